"""A billing month is a calendar month in America/Los_Angeles on every screen: finance's
statement, the CSV exports, the partner's ledger and the partner's statement."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.conf import settings
from django.urls import reverse

from billing.models import LedgerEntry, Wallet
from billing.selectors import FINANCE_TZ, statement_for
from billing.services.charges import LeaseCharge, lease_charges_post
from billing.services.movements import wallet_adjust, wallet_fund
from layers_ops.partners.models import Scope
from leasing.roles import FINANCE
from tests.api.test_auth_and_errors import assert_envelope
from tests.billing.helpers import staff_in
from tests.conftest import make_partner

pytestmark = pytest.mark.django_db

LEDGER_EXPORT = reverse("admin:billing_ledgerentry_export")
LEASE_IDS = iter(range(50_000, 60_000))


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def at(moment: datetime):
    """Rows written inside get ``moment`` as their ``created_at`` (auto_now_add)."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def renewal(organization, cents=15_000):
    charge = LeaseCharge(
        organization_id=organization.pk, lease_id=next(LEASE_IDS), period=1, amount_cents=cents
    )
    lease_charges_post(charges=[charge])


@pytest.fixture
def finance_client(client):
    client.force_login(staff_in(FINANCE, "fin"))
    return client


@pytest.fixture
def october_partner(db):
    """Funded Sep 20; three $150 renewals in October; a $450 wire at Oct 31 20:00 in Los
    Angeles (Nov 1 03:00 UTC): October nets $0.00 in Los Angeles time, -$450 in UTC."""
    with at(utc(2026, 9, 20, 18)):
        partner = make_partner("October Co", wallet_cents=100_000)
    for day in (5, 12, 19):
        with at(utc(2026, 10, day, 18)):
            renewal(partner.organization)
    with at(utc(2026, 11, 1, 3)):  # 2026-10-31 20:00 PDT
        wallet_fund(
            organization=partner.organization,
            amount_cents=45_000,
            memo="Wire received Oct 31",
            reference="WIRE-1031",
        )
    return partner


def statement(partner, month, client=None):
    response = (client or partner.client).get(f"/v1/wallet/statements/{month}")
    assert response.status_code == 200, response.content
    return response.json()


def csv_dicts(response):
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_a_wire_at_8pm_on_oct_31_in_los_angeles_is_october_for_finance_and_the_partner(
    october_partner, finance_client
):
    partner = october_partner
    wallet = Wallet.objects.get(organization=partner.organization)

    october = statement(partner, "2026-10")
    november = statement(partner, "2026-11")
    ledger = partner.client.get(
        "/v1/wallet/ledger", {"since": "2026-10-01", "until": "2026-11-01"}
    ).json()
    page = finance_client.get(
        reverse("admin:billing_wallet_statement", args=[wallet.pk]) + "?month=2026-10"
    ).content.decode()

    assert october["closingBalanceCents"] - october["openingBalanceCents"] == 0  # $0.00
    assert october["totals"]["topUpsCents"] == 45_000
    assert october["totals"]["renewalsCents"] == -45_000
    wire = next(e for e in october["entries"] if e["reference"] == "WIRE-1031")
    assert wire["createdAt"] == "2026-11-01T03:00:00Z"  # API times stay UTC
    assert all(e["reference"] != "WIRE-1031" for e in november["entries"])
    assert "WIRE-1031" in {e["reference"] for e in ledger["items"]}  # dates are LA dates
    assert 'data-kind="funding" data-cents="45000"' in page
    assert "Wire received Oct 31" in page


def test_the_ledger_csv_gives_the_utc_instant_the_los_angeles_time_and_dollars(
    october_partner, finance_client
):
    rows = csv_dicts(
        finance_client.get(
            LEDGER_EXPORT + f"?account__organization__id__exact={october_partner.organization.pk}"
        )
    )
    wire = next(r for r in rows if r["reference"] == "WIRE-1031" and r["account"] == "wallet")
    spend = next(r for r in rows if r["kind"] == "renewal" and r["account"] == "wallet")

    assert wire["time_utc"] == "2026-11-01T03:00:00Z"
    assert wire["time_america_los_angeles"] == "2026-10-31 20:00:00"
    assert (wire["amount_cents"], wire["amount_usd"]) == ("45000", "450.00")
    assert (spend["amount_cents"], spend["amount_usd"]) == ("-15000", "-150.00")
    assert wire["balance_after_usd"] == f"{int(wire['balance_after_cents']) / 100:.2f}"


def test_the_statement_csv_gives_the_utc_instant_the_los_angeles_time_and_dollars(
    october_partner, finance_client
):
    wallet = Wallet.objects.get(organization=october_partner.organization)
    url = reverse("admin:billing_wallet_statement", args=[wallet.pk])

    rows = csv_dicts(finance_client.get(url + "?month=2026-10&format=csv"))

    wire = next(r for r in rows if r["reference"] == "WIRE-1031")
    assert wire["time_utc"] == "2026-11-01T03:00:00Z"
    assert wire["time_america_los_angeles"] == "2026-10-31 20:00:00"
    assert (wire["amount_cents"], wire["amount_usd"]) == ("45000", "450.00")
    opening = next(r for r in rows if r["section"] == "Opening balance")
    assert opening["time_utc"] == "2026-10-01T07:00:00Z"  # midnight in Los Angeles (PDT)
    assert opening["time_america_los_angeles"] == "2026-10-01 00:00:00"
    closing = next(r for r in rows if r["section"] == "Closing balance")
    assert closing["time_utc"] == "2026-11-01T07:00:00Z"  # DST ends later that night
    assert closing["amount_usd"] == opening["amount_usd"] == "1000.00"


def _finance_figures(client, wallet, month) -> dict:
    page = client.get(
        reverse("admin:billing_wallet_statement", args=[wallet.pk]) + f"?month={month}"
    ).content.decode()
    summary = page.split('id="statement-summary"', 1)[1].split("</table>", 1)[0]
    cents = [int(c) for c in re.findall(r'data-cents="(-?\d+)"', summary)]
    kinds = dict(re.findall(r'data-kind="(\w+)" data-cents="(-?\d+)"', summary))
    return {"opening": cents[0], "closing": cents[-1], **{k: int(v) for k, v in kinds.items()}}


@pytest.mark.parametrize("month", ["2026-02", "2026-03", "2026-04", "2026-10", "2026-11"])
def test_the_partners_statement_is_finances_statement_across_daylight_saving(finance_client, month):
    # DST starts 2026-03-08 and ends 2026-11-01: movements in the hours either side of
    # both changes and of every month boundary around them.
    with at(utc(2026, 1, 15)):
        partner = make_partner("DST Co", wallet_cents=500_000)
    finance = staff_in(FINANCE, "fin2")
    moments = [
        utc(2026, 3, 1, 7, 59),  # Feb 28 23:59 PST
        utc(2026, 3, 1, 8, 0),  # Mar 1 00:00 PST
        utc(2026, 3, 8, 9, 30),  # Mar 8 01:30 PST, just before the change
        utc(2026, 3, 8, 10, 30),  # Mar 8 03:30 PDT
        utc(2026, 4, 1, 6, 59),  # Mar 31 23:59 PDT
        utc(2026, 4, 1, 7, 0),  # Apr 1 00:00 PDT
        utc(2026, 11, 1, 3, 0),  # Oct 31 20:00 PDT
        utc(2026, 11, 1, 6, 59),  # Oct 31 23:59 PDT
        utc(2026, 11, 1, 8, 30),  # Nov 1 01:30 PDT, the first time
        utc(2026, 11, 1, 9, 30),  # Nov 1 01:30 PST, the second time
    ]
    for number, moment in enumerate(moments):
        with at(moment):
            if number % 3 == 0:
                wallet_fund(organization=partner.organization, amount_cents=1_000 + number)
            elif number % 3 == 1:
                renewal(partner.organization, cents=700 + number)
            else:
                wallet_adjust(
                    organization=partner.organization,
                    amount_cents=-(300 + number),
                    actor=finance,
                    memo=f"fee {number}",
                )
    wallet = Wallet.objects.get(organization=partner.organization)
    year, number = (int(part) for part in month.split("-"))
    selected = statement_for(organization=partner.organization, year=year, month=number)

    api = statement(partner, month)
    seen = _finance_figures(finance_client, wallet, month)

    assert api["month"] == month and api["timezone"] == "America/Los_Angeles"
    assert api["openingBalanceCents"] == seen["opening"] == selected.opening_cents
    assert api["closingBalanceCents"] == seen["closing"] == selected.closing_cents
    assert api["totals"] == {
        "topUpsCents": seen["funding"],
        "topUpVoidsCents": seen.get("top_up_void", 0),
        "chargesCents": seen["charge"],
        "renewalsCents": seen["renewal"],
        "refundsCents": seen["reversal"],
        "adjustmentsCents": seen["adjustment"],
    }
    assert [e["transactionId"] for e in api["entries"]] == [
        line.transaction_id for line in selected.lines
    ]
    start, end = (
        datetime(year, number, 1, tzinfo=FINANCE_TZ),
        datetime(year + number // 12, number % 12 + 1, 1, tzinfo=FINANCE_TZ),
    )
    expected = {m for m in moments if start <= m < end}
    assert len(api["entries"]) == len(expected)
    assert api["openingBalanceCents"] + sum(api["totals"].values()) == api["closingBalanceCents"]


def test_statement_entries_are_shaped_like_ledger_entries(october_partner):
    partner = october_partner

    october = statement(partner, "2026-10")
    ledger = partner.client.get(
        "/v1/wallet/ledger", {"since": "2026-10-01", "until": "2026-11-01", "limit": 200}
    ).json()["items"]

    assert october["organizationId"] == partner.organization.pk
    assert [e["createdAt"] for e in october["entries"]] == sorted(
        e["createdAt"] for e in october["entries"]
    )  # oldest first, like a statement
    assert sorted(october["entries"], key=lambda e: e["entryId"]) == sorted(
        ledger, key=lambda e: e["entryId"]
    )
    assert set(october["entries"][0]) == {
        "entryId",
        "transactionId",
        "kind",
        "amountCents",
        "balanceAfterCents",
        "memo",
        "reference",
        "createdAt",
    }


def test_a_month_before_the_organization_existed_is_all_zeros(october_partner):
    body = statement(october_partner, "2001-01")

    assert body == {
        "organizationId": october_partner.organization.pk,
        "month": "2001-01",
        "timezone": "America/Los_Angeles",
        "openingBalanceCents": 0,
        "closingBalanceCents": 0,
        "totals": {
            "topUpsCents": 0,
            "topUpVoidsCents": 0,
            "chargesCents": 0,
            "renewalsCents": 0,
            "refundsCents": 0,
            "adjustmentsCents": 0,
        },
        "entries": [],
    }


def test_the_current_month_is_served_so_far(partner):
    now = datetime.now(FINANCE_TZ)

    body = statement(partner, f"{now:%Y-%m}")

    assert body["closingBalanceCents"] == 300_000
    assert body["totals"]["topUpsCents"] == 300_000


def _next_month() -> str:
    now = datetime.now(FINANCE_TZ)
    following = (now.replace(day=28) + timedelta(days=4)).replace(day=1)
    return f"{following:%Y-%m}"


@pytest.mark.parametrize(
    "month",
    [
        "2026-13",
        "2026-00",
        "0001-01",
        "1999-12",
        "9999-12",
        "99999999999999999999-1",
        "2026-1",
        "2026-10-01",
        "october",
        "-2026-10",
        "２０２６-10",  # noqa: RUF001 (full-width digits)
        "next",
    ],
)
def test_a_bad_month_is_422_naming_month(partner, month):
    response = partner.client.get(f"/v1/wallet/statements/{month}")

    assert_envelope(response, 422, "VALIDATION")
    assert [d["field"] for d in response.json()["error"]["details"]] == ["month"]


def test_a_future_month_is_422_naming_month(partner):
    response = partner.client.get(f"/v1/wallet/statements/{_next_month()}")

    assert_envelope(response, 422, "VALIDATION")
    detail = response.json()["error"]["details"][0]
    assert detail["field"] == "month" and "future" in detail["message"]


def test_the_statement_needs_billing_read_and_answers_head_like_get(partner):
    path = "/v1/wallet/statements/2026-10"

    assert_envelope(partner.client_with(Scope.LEASED_READ).get(path), 403, "FORBIDDEN_SCOPE")
    assert partner.client_with(Scope.BILLING_READ).get(path).status_code == 200
    head = partner.client_with(Scope.BILLING_READ).head(path)
    assert head.status_code == 200 and head.content == b""
    assert head["X-RateLimit-Endpoint-Class"] == "read"
    assert partner.client_with(Scope.LEASED_READ).head(path).status_code == 403
    assert partner.client.post(path).status_code == 405


def test_a_partner_sees_only_its_own_statement(october_partner, other_partner):
    with at(utc(2026, 10, 9)):
        wallet_fund(organization=other_partner.organization, amount_cents=999)

    body = statement(october_partner, "2026-10")

    assert october_partner.organization.pk == body["organizationId"]
    assert body["totals"]["topUpsCents"] == 45_000
    assert statement(other_partner, "2026-10")["totals"]["topUpsCents"] == 999


def test_statement_entries_read_the_partner_description_never_the_internal_reason(
    october_partner,
):
    from billing.selectors import partner_visible_memo

    entry = LedgerEntry.objects.filter(transaction__reference="WIRE-1031").first()
    wire = next(
        e for e in statement(october_partner, "2026-10")["entries"] if e["reference"] == "WIRE-1031"
    )

    assert wire["memo"] == partner_visible_memo(entry.transaction)
    assert wire["memo"] == entry.transaction.partner_description == "Wallet top-up"
    assert entry.transaction.memo == "Wire received Oct 31"  # finance's, kept from partners


def test_the_document_states_the_statement_and_los_angeles_months(client):
    document = client.get("/v1/openapi.json").json()
    operation = document["paths"]["/v1/wallet/statements/{month}"]["get"]
    month = next(p for p in operation["parameters"] if p["name"] == "month")

    assert set(operation["responses"]) >= {"200", "401", "403", "422", "429"}
    assert month["in"] == "path" and month["schema"]["pattern"].startswith("^")
    assert "America/Los_Angeles" in operation["description"]
    assert "America/Los_Angeles" in document["info"]["description"]
    body = document["components"]["schemas"]["WalletStatementOut"]["properties"]
    assert set(body) == {
        "organizationId",
        "month",
        "timezone",
        "openingBalanceCents",
        "closingBalanceCents",
        "totals",
        "entries",
    }


@pytest.mark.parametrize("renewals", [1, 30])
def test_the_statement_runs_a_fixed_number_of_queries(
    october_partner, django_assert_max_num_queries, renewals
):
    for day in range(renewals):
        with at(utc(2026, 10, 1 + day % 28, 12)):
            renewal(october_partner.organization, cents=100)

    # The key, its organization, then the statement's two: however many entries. Without
    # Redis the rate-limit window lives in the database and adds its own fixed six.
    with django_assert_max_num_queries(5 if settings.REDIS_URL else 11):
        body = statement(october_partner, "2026-10")

    assert len(body["entries"]) == 4 + renewals
