"""One strict grammar for the numbers and times the service reads from text: ASCII digits
only, no leading zeros, no separators or exponents; RFC 3339 times with at most six
fractional digits. The API, the admin's money forms and the top_up command all refuse
the same spellings."""

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from billing.models import LedgerTransaction, Wallet
from billing.selectors import wallet_balance_cents
from layers_ops import grammar
from layers_ops.partners.models import Organization
from leasing.models import Lease
from leasing.roles import FINANCE, OPS
from tests.billing.helpers import staff_in
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory
from tests.once import once

# Spellings of a number no edge accepts: other scripts' digits, separators, exponents,
# signs, spaces, leading zeros, fractions where a whole number is due.
NOT_WHOLE = [
    "\uff11\uff10\uff10",  # full-width
    "\u0661\u0660\u0660",  # Arabic-Indic
    "\u06f1\u06f0\u06f0",  # Extended Arabic-Indic
    "1_000",
    "1,000",
    "1e2",
    "+100",
    " 100",
    "100 ",
    "0100",
    "00",
    "100.0",
    "",
    "0x10",
    "1" * 5_000,
]


@pytest.mark.parametrize("raw", NOT_WHOLE)
def test_a_whole_number_is_ascii_digits_without_leading_zeros(raw):
    with pytest.raises(grammar.GrammarError):
        grammar.whole_number(raw, minimum=0, maximum=10**9)


@pytest.mark.parametrize(("raw", "value"), [("0", 0), ("7", 7), ("200", 200), ("-5", -5)])
def test_plain_whole_numbers_are_read(raw, value):
    assert grammar.whole_number(raw, signed=True) == value


def test_a_minus_is_refused_where_the_number_cannot_be_negative():
    with pytest.raises(grammar.GrammarError):
        grammar.whole_number("-5")


@pytest.mark.parametrize(
    "raw",
    [
        "1e2",
        "1_000",
        "\uff11\uff10\uff10",
        "1,000.00",
        ".5",
        "5.",
        "1.234",
        "0150.00",
        "+5",
        "NaN",
        "Infinity",
    ],
)
def test_an_amount_has_at_most_two_decimals_and_nothing_else(raw):
    with pytest.raises(grammar.GrammarError):
        grammar.amount(raw)


@pytest.mark.parametrize(
    ("raw", "value"),
    [("150", "150"), ("150.5", "150.5"), ("0.25", "0.25"), ("-25.00", "-25.00")],
)
def test_plain_amounts_are_read(raw, value):
    assert grammar.amount(raw) == Decimal(value)


@pytest.mark.parametrize(
    ("raw", "moment"),
    [
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:00:00Z", datetime(2026, 11, 1, 8, tzinfo=UTC)),
        ("2026-11-01T00:00:00-08:00", datetime(2026, 11, 1, 8, tzinfo=UTC)),
        ("2026-11-01T08:00:00.123456+00:00", datetime(2026, 11, 1, 8, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-01T08:00:00.5Z", datetime(2026, 11, 1, 8, 0, 0, 500000, tzinfo=UTC)),
    ],
)
def test_rfc_3339_times_and_dates_are_read_in_utc(raw, moment):
    assert grammar.timestamp(raw) == moment


@pytest.mark.parametrize(
    "raw",
    [
        "2026-11-01T08:00:00.1234567Z",  # 7 fractional digits
        "2026-11-01T08:00:00.1234567890123Z",  # 13
        "\uff12\uff10\uff12\uff16-11-01",  # full-width year
        "2026-11-01T08:00:00",  # no offset
        "2026-11-01 08:00:00Z",
        "2026-11-01t08:00:00z",
        "2026-11-01T08:00Z",
        "2026-11-01T24:00:00Z",
        "2026-02-30",
        "0000-01-01",
        "9999-12-31T23:59:59-01:00",  # past year 9999 in UTC
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "2026-11-01T08:00:00+24:00",
        "20261101",
        "2026-W44",
        "1e9",
    ],
)
def test_anything_else_is_not_a_timestamp(raw):
    with pytest.raises(grammar.GrammarError):
        grammar.timestamp(raw)


# --- the API: 422 naming the parameter ---------------------------------------------------


def assert_422_naming(response, field):
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION"
    assert [d["field"] for d in error["details"]] == [field]
    assert error["message"].startswith(field)


@pytest.mark.django_db
@pytest.mark.parametrize("limit", ["01", "0200", "\u0665", "\uff15", "1_0", "1e1", "+5", " 5"])
def test_limit_spelled_any_other_way_is_422_naming_it(partner, limit):
    assert_422_naming(partner.client.get("/v1/wallet/ledger", {"limit": limit}), "limit")
    assert_422_naming(partner.client.get("/v1/leased-accounts", {"limit": limit}), "limit")


@pytest.mark.django_db
@pytest.mark.parametrize("field", ["since", "until"])
@pytest.mark.parametrize(
    "raw",
    [
        "\uff12\uff10\uff12\uff16-11-01",
        "2026-11-0\u0661",
        "2026-11-01T08:00:00.1234567890123Z",
        "2026-11-01T08:00:00",
        "2026-11-01T08:00:00 00:00",  # a '+' sent unescaped
    ],
)
def test_ledger_times_outside_rfc_3339_are_422_naming_the_parameter(partner, field, raw):
    assert_422_naming(partner.client.get("/v1/wallet/ledger", {field: raw}), field)


@pytest.mark.django_db
def test_ledger_reads_rfc_3339_times_with_microseconds_and_offsets(partner):
    ledger = "/v1/wallet/ledger"

    assert len(partner.client.get(ledger, {"since": "2000-01-01"}).json()["items"]) == 1
    assert (
        partner.client.get(ledger, {"until": "2000-01-01T00:00:00.000001-08:00"}).json()["items"]
        == []
    )
    assert partner.client.get(ledger, {"limit": "200"}).status_code == 200
    assert partner.client.get(ledger, {"limit": "1"}).status_code == 200


# --- the admin's money forms: a form error ----------------------------------------------


@pytest.fixture
def finance(client):
    client.force_login(staff_in(FINANCE, "fin"))


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["1e2", "1_000", "\uff11\uff10\uff10", "0100", "1,000", "100.001"])
@pytest.mark.parametrize("form", ["top_up", "adjust", "move_money"])
def test_money_forms_refuse_amounts_outside_the_grammar(client, finance, partner, form, raw):
    wallet = Wallet.objects.get(organization=partner.organization)
    if form == "move_money":
        url = reverse("admin:billing_wallet_move_money")
        data = {"organization": partner.organization.pk, "kind": "top_up", "memo": "x"}
    else:
        url = reverse(f"admin:billing_wallet_{form}", args=[wallet.pk])
        data = {"reason": "x"}
    before = LedgerTransaction.objects.count()

    response = client.post(url, {**once(client), **data, "amount": raw})

    assert response.status_code == 200
    assert "amount" in response.context["form"].errors
    assert LedgerTransaction.objects.count() == before


@pytest.mark.django_db
def test_money_forms_still_take_plain_amounts(client, finance, partner):
    wallet = Wallet.objects.get(organization=partner.organization)
    url = reverse("admin:billing_wallet_top_up", args=[wallet.pk])

    response = client.post(url, {**once(client), "amount": " 250.5 ", "reason": "Wire 4471"})

    assert response.status_code == 302
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 + 25_050


# --- the top_up command: one line, exit 1 ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("cents", ["\uff11\uff10\uff10", "1_000", "1e3", "0100", "+100", " 100"])
def test_top_up_refuses_cents_outside_the_grammar_in_one_line(partner, cents):
    with pytest.raises(CommandError) as refused:
        call_command(
            "top_up", partner.organization.pk, "--cents", cents, "--memo", "x", stdout=io.StringIO()
        )

    assert "--cents" in str(refused.value)
    assert "\n" not in str(refused.value)
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000


# --- the other numbers read from text: the same grammar ---------------------------------

ODD_WHOLE = ["1_0", "\uff12", "02", "+2", "2e0"]


@pytest.mark.django_db
@pytest.mark.parametrize("count", ODD_WHOLE)
def test_allocate_count_outside_the_grammar_is_one_line_and_assigns_nothing(partner, count):
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    pool = PoolFactory(tags=["coffee"])
    SocialAccountFactory(pool=pool)
    SocialAccountFactory(pool=pool)

    with pytest.raises(CommandError, match="--count") as refused:
        call_command("allocate", lease_request.public_id, "--count", count, stdout=io.StringIO())

    assert "\n" not in str(refused.value)
    assert not Lease.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("cents", ["1_000", "\uff11\uff10\uff10", "0100", "1e3"])
def test_create_partner_wallet_cents_outside_the_grammar_is_one_line(cents):
    with pytest.raises(CommandError, match="--wallet-cents") as refused:
        call_command("create_partner", "--name", "Acme", "--wallet-cents", cents)

    assert "\n" not in str(refused.value)
    assert not Organization.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "args",
    [
        ["--at", "2026-03-01T00:00:00"],  # no offset
        ["--at", "\uff12\uff10\uff12\uff16-03-01"],
        ["--at", "2026-03-01T00:00:00.1234567Z"],
        ["--batch-size", "1_000"],
        ["--batch-size", "01"],
        ["--batch-size", "0"],
    ],
)
def test_renew_leases_options_outside_the_grammar_are_one_line(args):
    with pytest.raises(CommandError, match=args[0]) as refused:
        call_command("renew_leases", *args, stdout=io.StringIO())

    assert "\n" not in str(refused.value)


@pytest.mark.django_db
@pytest.mark.parametrize("count", ODD_WHOLE)
def test_the_admin_pick_best_count_outside_the_grammar_is_a_form_error(client, partner, count):
    client.force_login(staff_in(OPS, "ops"))
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    pool = PoolFactory(tags=["coffee"])
    for _ in range(3):
        SocialAccountFactory(pool=pool)
    url = reverse("admin:leasing_leaserequest_allocate", args=[lease_request.pk])

    response = client.post(url, {**once(client), "best-count": count, "pick_best": "1"})

    assert response.status_code == 200
    assert "count" in response.context["pick_form"].errors
    assert not Lease.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("followers", ["0012", "+12", "1_200", "\uff11\uff12"])
def test_intake_refuses_followers_outside_the_grammar(followers):
    from leasing.intake_parsing import RowRefused, followers_clean

    with pytest.raises(RowRefused, match="followers"):
        followers_clean(followers)
