"""Trust in the money paths: a ceiling on every movement, a confirmation for large ones,
voiding a mistaken top-up, internal reasons kept from partners, memos the CSV guard
leaves alone, and refunds traceable both ways."""

import csv
import io
import json
import re

import pytest
from django.apps import apps as django_apps
from django.contrib.admin.utils import quote
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from billing.models import AccountKind, LedgerAccount, LedgerTransaction, Wallet
from billing.selectors import ledger_verify, statement_for, wallet_balance_cents
from billing.services import reversals
from billing.services.charges import lease_charge
from billing.services.errors import AlreadyReversed, BillingError, InsufficientFunds
from billing.services.movements import wallet_adjust, wallet_fund
from billing.services.reversals import transaction_reverse
from leasing.roles import FINANCE, OPS
from tests.billing.helpers import lease_accounts, staff_in
from tests.conftest import make_partner
from tests.once import once, once_on

pytestmark = pytest.mark.django_db

CEILING = 100_000_000  # $1,000,000, the default MONEY_MOVEMENT_MAX_CENTS


@pytest.fixture
def finance(client):
    user = staff_in(FINANCE, "fin")
    client.force_login(user)
    return user


def wallet_of(partner) -> Wallet:
    return Wallet.objects.get(organization=partner.organization)


def balance(partner) -> int:
    return wallet_balance_cents(organization_id=partner.organization.pk)


def top_up_url(partner):
    return reverse("admin:billing_wallet_top_up", args=[wallet_of(partner).pk])


def page_of(txn) -> str:
    """The transaction's page as the changelist links to it (``_`` quoted as ``_5F``)."""
    return reverse("admin:billing_ledgertransaction_change", args=[quote(txn.pk)])


# --- 2. a ceiling on every movement --------------------------------------------------


def test_services_refuse_a_movement_over_the_ceiling_and_nothing_moves(partner):
    before = LedgerTransaction.objects.count()

    for attempt in [
        lambda: wallet_fund(organization=partner.organization, amount_cents=CEILING + 1),
        lambda: wallet_adjust(
            organization=partner.organization, amount_cents=CEILING + 1, actor=None, memo="x"
        ),
        lambda: wallet_adjust(
            organization=partner.organization, amount_cents=-(CEILING + 1), actor=None, memo="x"
        ),
        lambda: lease_charge(
            organization_id=partner.organization.pk, lease_id=1, amount_cents=CEILING + 1
        ),
    ]:
        with pytest.raises(BillingError, match=r"at most \$1,000,000\.00"):
            attempt()

    assert LedgerTransaction.objects.count() == before
    wallet_fund(organization=partner.organization, amount_cents=CEILING)  # exactly: fine
    assert balance(partner) == 300_000 + CEILING


def test_the_ceiling_is_a_setting(partner, settings):
    settings.MONEY_MOVEMENT_MAX_CENTS = 50_000

    with pytest.raises(BillingError, match=r"at most \$500\.00"):
        wallet_fund(organization=partner.organization, amount_cents=50_001)


def test_console_refuses_ten_billion_dollars_with_a_message(client, finance, partner):
    response = client.post(
        top_up_url(partner), {"amount": "9999999999.99", "reason": "Wire", "reference": ""}
    )

    assert response.status_code == 200
    assert "is more than one money movement may be" in response.content.decode()
    assert balance(partner) == 300_000


def test_a_funding_account_at_the_bigint_floor_is_a_clear_refusal(client, finance, partner):
    # The state one huge top-up left behind: every later top-up was a 500.
    LedgerAccount.objects.filter(kind=AccountKind.FUNDING).update(balance_cents=-(2**63) + 10)

    with pytest.raises(BillingError, match="past what the ledger can hold"):
        wallet_fund(organization=partner.organization, amount_cents=100)
    response = client.post(
        top_up_url(partner), {"amount": "1.00", "reason": "Wire", **once(client)}
    )

    assert response.status_code == 200
    assert "past what the ledger can hold" in response.content.decode()


@pytest.mark.parametrize(
    ("cents", "message"),
    [
        ("0", "positive whole number"),
        ("-5", "positive whole number"),
        ("12.50", "positive whole number"),
        ("1e5", "positive whole number"),
        ("١٢", "positive whole number"),  # Arabic-Indic digits are not cents
        ("100000001", "more than one money movement"),
        ("1000000000000000", "more than one money movement"),  # $10 trillion
        ("9" * 5000, "more than one money movement"),
    ],
)
def test_top_up_command_refuses_a_bad_amount_with_one_line(partner, cents, message):
    with pytest.raises(CommandError, match=message) as refused:
        call_command(
            "top_up",
            partner.organization.pk,
            f"--cents={cents}",
            "--memo",
            "Wire",
            stdout=io.StringIO(),
        )

    assert "\n" not in str(refused.value) and len(str(refused.value)) < 300
    assert balance(partner) == 300_000


def test_a_large_top_up_is_confirmed_in_words_with_the_new_balance(client, finance, partner):
    url = top_up_url(partner)
    data = {
        "amount": "10500.00",
        "reason": "Wire received",
        "description": "Wallet top-up",
        "reference": "WIRE-9",
        **once_on(client.get(url)),
    }

    confirm = client.post(url, data)

    page = confirm.content.decode()
    assert confirm.status_code == 200 and balance(partner) == 300_000
    assert "Ten thousand five hundred dollars" in page
    assert "$10,500.00" in page and "$13,500.00" in page  # the balance after
    assert 'name="confirm"' in page and 'name="back"' in page
    assert once_on(confirm) == {"_once": data["_once"]}  # the form's token, carried on

    back = client.post(url, {**data, "back": "Back"})
    assert back.context["form"]["amount"].value() == "10500.00"
    assert once_on(back) == {"_once": data["_once"]}
    assert balance(partner) == 300_000

    done = client.post(url, {**data, "confirm": "Confirm"})
    assert done.status_code == 302 and balance(partner) == 1_350_000

    again = client.post(url, {**data, "confirm": "Confirm"}, follow=True)  # back + resubmit
    assert "Already done: a top-up of $10,500.00 recorded" in again.content.decode()
    assert "by you" in again.content.decode()
    assert balance(partner) == 1_350_000

    form_again = client.post(url, data, follow=True)  # the form itself, sent once more
    assert "Already done: a top-up of $10,500.00" in form_again.content.decode()
    assert "Confirm this" not in form_again.content.decode()
    assert LedgerTransaction.objects.filter(reference="WIRE-9").count() == 1


def test_a_small_top_up_needs_no_confirmation(client, finance, partner):
    response = client.post(
        top_up_url(partner), {"amount": "10000.00", "reason": "Wire", **once(client)}
    )

    assert response.status_code == 302
    assert balance(partner) == 1_300_000


def test_large_adjustments_on_the_generic_form_are_confirmed_too(client, finance, partner):
    wallet_fund(organization=partner.organization, amount_cents=2_000_000)
    data = {
        "organization": partner.organization.pk,
        "kind": "adjustment",
        "amount": "-12000.00",
        "memo": "Duplicate wire",
        **once(client),
    }
    url = reverse("admin:billing_wallet_move_money")

    confirm = client.post(url, data)
    assert "Minus twelve thousand dollars" in confirm.content.decode()
    assert "$11,000.00" in confirm.content.decode()  # $23,000 - $12,000
    assert balance(partner) == 2_300_000

    client.post(url, {**data, "confirm": "Confirm"})
    assert balance(partner) == 1_100_000


# --- 2. voiding a mistaken top-up ----------------------------------------------------


def test_a_top_up_is_voided_once_while_the_wallet_holds_it(partner):
    finance = staff_in(FINANCE, "fin-void")
    top_up = wallet_fund(organization=partner.organization, amount_cents=1_050_000)

    void = reversals.top_up_void(top_up=top_up, actor=finance, memo="Typed 10500 for 105")

    assert (void.kind, void.reverses, void.reference) == ("top_up_void", top_up, top_up.pk)
    assert balance(partner) == 300_000
    with pytest.raises(AlreadyReversed):
        reversals.top_up_void(top_up=top_up, actor=finance, memo="again")
    with pytest.raises(BillingError):
        transaction_reverse(original=void, actor=finance, memo="undo the void")
    assert not ledger_verify()
    now = void.created_at
    statement = statement_for(organization=partner.organization, year=now.year, month=now.month)
    sections = {s.kind: s for s in statement.sections}
    assert [line.transaction_id for line in sections["top_up_void"].lines] == [void.pk]
    assert sections["top_up_void"].heading == "Voided top-ups"
    assert not sections["adjustment"].lines and not sections["reversal"].lines


def test_a_spent_top_up_cannot_be_voided():
    partner = make_partner(wallet_cents=0)
    top_up = wallet_fund(organization=partner.organization, amount_cents=40_000)
    lease_accounts(partner, count=2)  # $300 of it spent

    with pytest.raises(InsufficientFunds, match="already spent, so it cannot be voided"):
        reversals.top_up_void(top_up=top_up, actor=None, memo="bounced")
    assert balance(partner) == 10_000
    assert not LedgerTransaction.objects.filter(kind="top_up_void").exists()


def test_only_a_top_up_is_voided(partner):
    lease_accounts(partner, count=1)
    charge = LedgerTransaction.objects.get(kind="charge")

    with pytest.raises(BillingError, match="not a top-up"):
        reversals.top_up_void(top_up=charge, actor=None, memo="x")


def test_a_top_up_over_todays_ceiling_can_still_be_voided(partner, settings):
    settings.MONEY_MOVEMENT_MAX_CENTS = 10**15
    huge = wallet_fund(organization=partner.organization, amount_cents=999_999_999_999)
    settings.MONEY_MOVEMENT_MAX_CENTS = CEILING

    reversals.top_up_void(top_up=huge, actor=None, memo="Ten billion by mistake")

    assert balance(partner) == 300_000
    assert LedgerAccount.objects.get(kind=AccountKind.FUNDING).balance_cents == -300_000


def test_finance_voids_a_top_up_from_its_ledger_page(client, finance, partner):
    top_up = wallet_fund(organization=partner.organization, amount_cents=50_000, memo="Wire")
    page = client.get(page_of(top_up)).content.decode()
    void_url = reverse("admin:billing_wallet_void", args=[wallet_of(partner).pk, top_up.pk])
    assert "Void this top-up" in page and void_url in page

    form = client.get(void_url).content.decode()
    assert "$500.00" in form and "Partner sees" in form and 'value="Top-up voided"' in form
    token = once_on(client.get(void_url))
    data = {"reason": "Wrong wallet", "description": "Top-up voided", **token}
    done = client.post(void_url, data)

    assert done.status_code == 302 and balance(partner) == 300_000
    void = LedgerTransaction.objects.get(kind="top_up_void")
    assert "Void this top-up" not in client.get(page_of(top_up)).content.decode()
    assert void.pk in client.get(page_of(top_up)).content.decode()
    clicked_twice = client.post(void_url, data, follow=True)
    assert f"Already done: {top_up.pk} voided (transaction {void.pk})" in (
        clicked_twice.content.decode()
    )
    again = client.post(void_url, {"reason": "twice", "description": "x", **once(client)})
    assert again.status_code == 200 and "already voided" in again.content.decode()
    assert LedgerTransaction.objects.filter(kind="top_up_void").count() == 1


def test_the_void_page_says_when_the_money_was_spent(client, finance, partner):
    top_up = wallet_fund(organization=partner.organization, amount_cents=400_000)
    lease_accounts(partner, count=3)  # $450 spent of $7,000: covers it
    lease_accounts(partner, count=40)  # now $700 left, less than $4,000
    void_url = reverse("admin:billing_wallet_void", args=[wallet_of(partner).pk, top_up.pk])

    response = client.post(
        void_url, {"reason": "bounced", "description": "Top-up voided", **once(client)}
    )

    assert response.status_code == 200
    assert "cannot be voided" in response.content.decode()
    assert not LedgerTransaction.objects.filter(kind="top_up_void").exists()


def test_ops_cannot_void(client, partner):
    client.force_login(staff_in(OPS, "ops-void"))
    top_up = LedgerTransaction.objects.get(kind="funding")
    url = reverse("admin:billing_wallet_void", args=[wallet_of(partner).pk, top_up.pk])

    assert client.post(url, {"reason": "x"}).status_code == 403
    assert balance(partner) == 300_000


# --- 3. partners never read internal reasons -----------------------------------------

SECRET = "INTERNAL-ONLY"


def test_no_internal_reason_reaches_the_partner_ledger(client, finance, partner):
    wallet = wallet_of(partner)
    client.post(
        top_up_url(partner),
        {"amount": "100.00", "reason": f"{SECRET} wire via Bob", **once(client)},
    )
    client.post(
        reverse("admin:billing_wallet_adjust", args=[wallet.pk]),
        {"amount": "-5.00", "reason": f"{SECRET} fee we forgot", "description": "", **once(client)},
    )
    client.post(
        reverse("admin:billing_wallet_move_money"),
        {
            "organization": partner.organization.pk,
            "kind": "adjustment",
            "amount": "7.00",
            "memo": f"{SECRET} CEO goodwill",
            "description": "Goodwill credit",
            **once(client),
        },
    )
    lease_accounts(partner, count=1)
    charge = LedgerTransaction.objects.get(kind="charge")
    client.post(
        reverse("admin:billing_wallet_refund", args=[wallet.pk]),
        {"charge": charge.pk, "reason": f"{SECRET} banned for fraud", **once(client)},
    )
    assert LedgerTransaction.objects.filter(memo__startswith=SECRET).count() == 4

    response = partner.client.get("/v1/wallet/ledger")

    assert SECRET not in response.content.decode()
    memos = [item["memo"] for item in response.json()["items"]]
    handle = charge.memo.removeprefix("Lease ").removesuffix(", first month")
    assert memos == [
        f"Refund: Lease {handle}, first month",
        f"Lease {handle}, first month",
        "Goodwill credit",
        "Account debit",
        "Wallet top-up",
        "Wallet top-up",  # the opening balance
    ]


def test_money_forms_say_what_the_partner_sees_and_prefill_it(client, finance, partner):
    wallet = wallet_of(partner)
    lease_accounts(partner, count=1)
    charge = LedgerTransaction.objects.get(kind="charge")

    top_up = client.get(top_up_url(partner)).content.decode()
    adjust = client.get(reverse("admin:billing_wallet_adjust", args=[wallet.pk])).content.decode()
    refund_url = reverse("admin:billing_wallet_refund", args=[wallet.pk])
    refund = client.get(f"{refund_url}?charge={charge.pk}").content.decode()

    for page in (top_up, adjust, refund):
        assert "Internal reason (staff only)" in page and "Partner sees" in page
        assert "The partner reads this" in page
    assert 'value="Wallet top-up"' in top_up
    assert 'value="Account adjustment"' in adjust
    assert f'value="Refund: {charge.memo}"' in refund


def test_existing_rows_get_a_neutral_partner_description_by_kind():
    backfill = __import__(
        "billing.migrations.0007_ledger_partner_description", fromlist=["backfill"]
    ).backfill
    old = LedgerTransaction.objects.create(
        kind="adjustment", memo=f"{SECRET} old reason", actor_label="x"
    )

    with connection.cursor() as cursor:  # fire the test's pending FK checks, as a commit would
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with connection.schema_editor() as editor:
        backfill(django_apps, editor)

    assert LedgerTransaction.objects.get(pk=old.pk).partner_description == "Account adjustment"


def test_ledger_export_for_finance_has_both_texts(client, finance, partner):
    wallet_fund(
        organization=partner.organization, amount_cents=100, memo="Wire via Bob", description="Hi"
    )

    response = client.get(reverse("admin:billing_ledgerentry_export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert {(r["memo"], r["partner_description"]) for r in rows} >= {("Wire via Bob", "Hi")}


# --- 6. service memos start with a word ----------------------------------------------


def test_lease_memos_start_with_a_word_so_the_csv_guard_leaves_them_alone(client, finance, partner):
    lease_accounts(partner, count=1)
    charge = LedgerTransaction.objects.get(kind="charge")
    assert re.fullmatch(r"Lease @\S+, first month", charge.memo)

    response = client.get(reverse("admin:billing_ledgerentry_export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    assert charge.memo in {r["memo"] for r in rows}
    assert not any(r["memo"].startswith("'") for r in rows)


# --- 7. refunds traceable both ways --------------------------------------------------


def test_a_refund_names_its_charge_and_both_pages_link_with_dates(client, finance, partner):
    lease_accounts(partner, count=1)
    charge = LedgerTransaction.objects.get(kind="charge")
    assert "Refund this charge" in client.get(page_of(charge)).content.decode()
    refund = transaction_reverse(original=charge, actor=finance, memo="Banned on day one")

    assert refund.reference == charge.pk
    charge_page = client.get(page_of(charge)).content.decode()
    refund_page = client.get(page_of(refund)).content.decode()
    assert f'href="{page_of(refund)}"' in charge_page  # undone by
    assert f'href="{page_of(charge)}"' in refund_page  # undoes
    for txn, page in ((charge, charge_page), (refund, refund_page)):
        assert f"{txn.created_at:%Y-%m-%d %H:%M:%S} UTC" in page


def search(client, partner, term=""):
    url = reverse("admin:billing_wallet_refund_charges", args=[wallet_of(partner).pk])
    return client.get(url, {"term": term}).json()


def test_refund_search_offers_only_this_wallets_unrefunded_charges(
    client, finance, partner, other_partner
):
    allocation = lease_accounts(partner, count=3)
    lease_accounts(other_partner, count=1)
    charges = list(LedgerTransaction.objects.filter(lease_id__in=[x.pk for x in allocation.leases]))
    transaction_reverse(original=charges[0], actor=finance, memo="refunded")
    handle = charges[1].memo.split()[1]

    everything = {r["id"] for r in search(client, partner)["results"]}
    by_handle = search(client, partner, handle)["results"]

    assert everything == {charges[1].pk, charges[2].pk}
    assert [r["id"] for r in by_handle] == [charges[1].pk]
    assert handle in by_handle[0]["text"] and "$150.00" in by_handle[0]["text"]


def test_the_refund_page_does_not_list_every_charge(client, finance, partner):
    wallet_fund(organization=partner.organization, amount_cents=1_000_000)
    lease_accounts(partner, count=30)
    url = reverse("admin:billing_wallet_refund", args=[wallet_of(partner).pk])

    page = client.get(url).content.decode()

    assert page.count("<option") <= 1
    assert "admin-autocomplete" in page
    assert reverse("admin:billing_wallet_refund_charges", args=[wallet_of(partner).pk]) in page
    assert len(search(client, partner)["results"]) == 20
    assert search(client, partner)["pagination"]["more"] is True


def test_ops_cannot_search_charges(client, partner):
    client.force_login(staff_in(OPS, "ops-search"))
    url = reverse("admin:billing_wallet_refund_charges", args=[wallet_of(partner).pk])

    assert client.get(url).status_code == 403


def test_top_up_command_records_the_partner_description(partner):
    out = io.StringIO()
    call_command(
        "top_up",
        partner.organization.pk,
        "--cents",
        "100",
        "--memo",
        "Wire via Bob",
        "--description",
        "Payment received",
        stdout=out,
    )

    txn = LedgerTransaction.objects.filter(kind="funding").latest("created_at")
    assert (txn.memo, txn.partner_description) == ("Wire via Bob", "Payment received")
    assert json.loads(out.getvalue())["balanceCents"] == 300_100


def test_a_voided_top_up_is_its_own_total_on_the_partners_statement(partner):
    from billing.selectors import FINANCE_TZ
    from billing.services.movements import wallet_fund
    from billing.services.reversals import top_up_void

    mistake = wallet_fund(
        organization=partner.organization, amount_cents=1_050_000, memo="typed $10,500 for $105"
    )
    top_up_void(top_up=mistake, actor=None, memo="wrong amount")
    month = timezone.now().astimezone(FINANCE_TZ).strftime("%Y-%m")

    body = partner.client.get(f"/v1/wallet/statements/{month}").json()

    totals = body["totals"]
    assert totals["topUpVoidsCents"] == -1_050_000
    assert body["openingBalanceCents"] + sum(totals.values()) == body["closingBalanceCents"]
    assert "typed" not in str(body) and "wrong amount" not in str(body)


@pytest.mark.parametrize("page", ["99999999999999999999", "-1", "abc", "٣"])
def test_a_refund_search_page_out_of_reach_reads_the_first_page(client, finance, partner, page):
    lease_accounts(partner, count=1)
    url = reverse("admin:billing_wallet_refund_charges", args=[wallet_of(partner).pk])

    response = client.get(url, {"page": page})

    assert response.status_code == 200 and len(response.json()["results"]) == 1
