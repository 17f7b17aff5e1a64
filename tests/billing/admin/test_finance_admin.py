import csv
import io
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse

from billing.models import LedgerEntry, LedgerTransaction, Wallet
from billing.selectors import FINANCE_TZ, wallet_balance_cents
from billing.services.movements import wallet_adjust, wallet_fund
from billing.services.reversals import transaction_reverse
from leasing.roles import FINANCE, OPS
from tests.billing.helpers import lease_accounts, staff_in
from tests.conftest import make_partner
from tests.factories import OrganizationFactory
from tests.once import once

pytestmark = pytest.mark.django_db

MOVE_MONEY = reverse("admin:billing_wallet_move_money")
LEDGER = reverse("admin:billing_ledgerentry_changelist")
EXPORT = reverse("admin:billing_ledgerentry_export")
WALLETS = reverse("admin:billing_wallet_changelist")


@pytest.fixture
def finance(client):
    user = staff_in(FINANCE, "fin")
    client.force_login(user)
    return user


def wallet_of(partner) -> Wallet:
    return Wallet.objects.get(organization=partner.organization)


def csv_rows(response):
    assert response["Content-Type"] == "text/csv"
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


# --- the generic move-money form (any organization) -------------------------------------


def record(client, organization, kind, amount, memo="", reference=""):
    return client.post(
        MOVE_MONEY,
        {
            **once(client),
            "organization": organization.pk,
            "kind": kind,
            "amount": amount,
            "memo": memo,
            "reference": reference,
        },
    )


def test_finance_records_a_top_up_for_an_org_that_had_no_wallet(client, finance):
    org = OrganizationFactory()

    response = record(
        client, org, "top_up", "1500.00", memo="Wire received", reference="WIRE-2026-11-24"
    )

    assert response.status_code == 302
    assert wallet_balance_cents(organization_id=org.pk) == 150_000
    txn = LedgerTransaction.objects.get()
    assert (txn.kind, txn.actor, txn.reference) == ("funding", finance, "WIRE-2026-11-24")
    page = client.get(response["Location"], follow=True).content.decode()
    assert "balance now $1,500.00" in page


def test_finance_adjusts_down_with_a_reason(client, finance):
    org = OrganizationFactory()
    wallet_fund(organization=org, amount_cents=50_000)

    record(client, org, "adjustment", "-120.50", memo="Duplicate top-up on 11/20")

    assert wallet_balance_cents(organization_id=org.pk) == 50_000 - 12_050
    assert LedgerTransaction.objects.get(kind="adjustment").memo == "Duplicate top-up on 11/20"


def test_an_adjustment_below_zero_is_refused_and_nothing_moves(client, finance):
    org = OrganizationFactory()
    wallet_fund(organization=org, amount_cents=10_000)

    response = record(client, org, "adjustment", "-100.01", memo="too much")

    assert response.status_code == 200
    assert "The wallet holds 100.00 USD" in response.content.decode()
    assert wallet_balance_cents(organization_id=org.pk) == 10_000


@pytest.mark.parametrize(
    ("kind", "amount", "memo", "field"),
    [
        ("adjustment", "25.00", "", "memo"),
        ("top_up", "25.00", "", "memo"),
        ("top_up", "-5.00", "x", "amount"),
        ("top_up", "0", "x", "amount"),
        ("top_up", "1.234", "x", "amount"),
    ],
)
def test_bad_movements_are_explained_on_the_form(client, finance, kind, amount, memo, field):
    org = OrganizationFactory()

    response = record(client, org, kind, amount, memo=memo)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not LedgerTransaction.objects.exists()


# --- per-wallet money forms ------------------------------------------------------------


def test_finance_tops_up_a_wallet_from_its_page(client, finance, partner):
    wallet = wallet_of(partner)
    url = reverse("admin:billing_wallet_top_up", args=[wallet.pk])

    response = client.post(
        url, {**once(client), "amount": "250.00", "reason": "Wire 4471", "reference": "W-4471"}
    )

    assert response.status_code == 302
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 + 25_000
    txn = LedgerTransaction.objects.filter(kind="funding").latest("created_at")
    assert (txn.memo, txn.reference, txn.actor) == ("Wire 4471", "W-4471", finance)


def test_finance_adjusts_a_wallet_from_its_page(client, finance, partner):
    wallet = wallet_of(partner)
    url = reverse("admin:billing_wallet_adjust", args=[wallet.pk])

    response = client.post(
        url, {**once(client), "amount": "-25.00", "reason": "Late fee waived twice"}
    )

    assert response.status_code == 302
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 - 2_500


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("top_up", {"amount": "10.00", "reason": ""}),
        ("top_up", {"amount": "-10.00", "reason": "x"}),
        ("adjust", {"amount": "10.00", "reason": "  "}),
        ("adjust", {"amount": "0", "reason": "x"}),
    ],
)
def test_money_forms_need_a_reason_and_a_sensible_amount(client, finance, partner, name, data):
    before = LedgerTransaction.objects.count()
    url = reverse(f"admin:billing_wallet_{name}", args=[wallet_of(partner).pk])

    response = client.post(url, data)

    assert response.status_code == 200
    assert response.context["form"].errors
    assert LedgerTransaction.objects.count() == before


def test_finance_refunds_a_charge_once_and_a_second_refund_is_refused(client, finance, partner):
    allocation = lease_accounts(partner, count=2)
    wallet = wallet_of(partner)
    charge = LedgerTransaction.objects.get(kind="charge", lease_id=allocation.leases[0].pk)
    url = reverse("admin:billing_wallet_refund", args=[wallet.pk])

    search = reverse("admin:billing_wallet_refund_charges", args=[wallet.pk])
    offered = {
        r["id"]: r["text"] for r in client.get(search, {"term": charge.pk}).json()["results"]
    }
    assert "$150.00" in offered[charge.pk]
    response = client.post(
        url, {**once(client), "charge": charge.pk, "reason": "Account banned on day one"}
    )

    assert response.status_code == 302
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 - 15_000
    refund = LedgerTransaction.objects.get(kind="reversal")
    assert (refund.reverses, refund.memo, refund.actor) == (
        charge,
        "Account banned on day one",
        finance,
    )

    again = client.post(url, {**once(client), "charge": charge.pk, "reason": "clicked twice"})

    assert again.status_code == 200
    assert "was already refunded" in again.content.decode()
    assert LedgerTransaction.objects.filter(kind="reversal").count() == 1
    assert charge.pk not in {r["id"] for r in client.get(search).json()["results"]}


def test_refund_needs_a_reason(client, finance, partner):
    lease_accounts(partner, count=1)
    charge = LedgerTransaction.objects.get(kind="charge")

    response = client.post(
        reverse("admin:billing_wallet_refund", args=[wallet_of(partner).pk]),
        {"charge": charge.pk, "reason": ""},
    )

    assert "reason" in response.context["form"].errors
    assert not LedgerTransaction.objects.filter(kind="reversal").exists()


def test_refund_offers_only_this_wallets_charges(client, finance, partner, other_partner):
    lease_accounts(other_partner, count=1)
    foreign = LedgerTransaction.objects.get(kind="charge")

    response = client.post(
        reverse("admin:billing_wallet_refund", args=[wallet_of(partner).pk]),
        {"charge": foreign.pk, "reason": "wrong wallet"},
    )

    assert "charge" in response.context["form"].errors
    assert not LedgerTransaction.objects.filter(kind="reversal").exists()


def test_a_charge_in_the_ledger_links_to_its_refund_until_refunded(client, finance, partner):
    lease_accounts(partner, count=1)
    charge = LedgerTransaction.objects.get(kind="charge")
    page_url = reverse("admin:billing_ledgertransaction_change", args=[charge.pk])
    refund_url = reverse("admin:billing_wallet_refund", args=[wallet_of(partner).pk])

    page = client.get(page_url).content.decode()
    assert "Refund this charge" in page and f"{refund_url}?charge={charge.pk}" in page
    form = client.get(f"{refund_url}?charge={charge.pk}").context["form"]
    assert form.initial["charge"] == charge.pk

    client.post(
        refund_url, {**once(client), "charge": charge.pk, "reason": "Account banned on day one"}
    )

    assert "Refund this charge" not in client.get(page_url).content.decode()
    top_up = LedgerTransaction.objects.filter(kind="funding").first()
    funding_page = reverse("admin:billing_ledgertransaction_change", args=[top_up.pk])
    assert "Refund this charge" not in client.get(funding_page).content.decode()


# --- who sees what ---------------------------------------------------------------------


def finance_pages(partner):
    wallet = wallet_of(partner)
    return [
        WALLETS,
        reverse("admin:billing_wallet_change", args=[wallet.pk]),
        reverse("admin:billing_wallet_statement", args=[wallet.pk]),
        reverse("admin:billing_wallet_statement", args=[wallet.pk]) + "?format=csv",
        reverse("admin:billing_wallet_reconciliation"),
        reverse("admin:billing_wallet_revenue"),
        LEDGER,
        EXPORT,
        reverse("admin:billing_ledgertransaction_changelist"),
    ]


def money_pages(partner):
    wallet = wallet_of(partner)
    return [
        MOVE_MONEY,
        reverse("admin:billing_wallet_top_up", args=[wallet.pk]),
        reverse("admin:billing_wallet_adjust", args=[wallet.pk]),
        reverse("admin:billing_wallet_refund", args=[wallet.pk]),
    ]


def test_finance_and_superusers_open_every_finance_page(client, admin_client, partner):
    lease_accounts(partner, count=1)
    client.force_login(staff_in(FINANCE, "fin"))
    for url in finance_pages(partner) + money_pages(partner):
        assert client.get(url).status_code == 200, url
        assert admin_client.get(url).status_code == 200, url


def test_ops_sees_no_finance_page_and_moves_no_money(client, partner):
    lease_accounts(partner, count=1)
    charge = LedgerTransaction.objects.get(kind="charge")
    client.force_login(staff_in(OPS, "ops-person"))
    before = LedgerTransaction.objects.count()

    for url in finance_pages(partner) + money_pages(partner):
        assert client.get(url).status_code == 403, url
    wallet = wallet_of(partner)
    posts = [
        (MOVE_MONEY, {"organization": partner.organization.pk, "kind": "top_up",
                      "amount": "100.00", "memo": "x"}),
        (reverse("admin:billing_wallet_top_up", args=[wallet.pk]), {"amount": "1", "reason": "x"}),
        (reverse("admin:billing_wallet_adjust", args=[wallet.pk]), {"amount": "1", "reason": "x"}),
        (reverse("admin:billing_wallet_refund", args=[wallet.pk]),
         {"charge": charge.pk, "reason": "x"}),
    ]  # fmt: skip
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert LedgerTransaction.objects.count() == before


def test_a_viewer_without_move_money_sees_pages_but_no_forms(client, partner):
    from django.contrib.auth.models import Permission

    viewer = staff_in(OPS, "auditor")
    viewer.groups.clear()
    viewer.user_permissions.add(Permission.objects.get(codename="view_wallet"))
    client.force_login(viewer)

    page = client.get(reverse("admin:billing_wallet_change", args=[wallet_of(partner).pk]))
    assert page.status_code == 200 and "Top up" not in page.content.decode()
    for url in money_pages(partner):
        assert client.get(url).status_code == 403, url


# --- the wallet list -------------------------------------------------------------------


def test_wallet_list_shows_usage_runway_and_past_due(client, finance, partner):
    lease_accounts(partner, count=2)  # $300 a month against $2,700

    page = client.get(WALLETS).content.decode()

    row = re.search(rf"{re.escape(partner.organization.name)}.*?</tr>", page, re.S).group(0)
    assert "$2,700.00" in row and "$300.00" in row
    assert re.search(r">\s*2\s*<", row)  # active leases
    assert "days" in row


@pytest.mark.parametrize("wallets", [1, 10])
def test_wallet_list_runs_a_fixed_number_of_queries(
    client, finance, django_assert_max_num_queries, wallets
):
    for _ in range(wallets):
        lease_accounts(make_partner(), count=2)

    with django_assert_max_num_queries(9):
        response = client.get(WALLETS)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == wallets


def test_wallet_page_draws_the_balance_over_time(client, finance, partner):
    lease_accounts(partner, count=1)

    page = client.get(reverse("admin:billing_wallet_change", args=[wallet_of(partner).pk]))

    svg = page.content.decode()
    assert 'class="chart balance-line"' in svg
    # after the top-up, after the charge, then held until now
    assert re.findall(r'class="point" data-value="(\d+)"', svg) == ["300000", "285000", "285000"]


# --- the ledger ------------------------------------------------------------------------


@pytest.mark.parametrize("partners", [1, 10])
def test_ledger_list_runs_a_fixed_number_of_queries(
    client, finance, django_assert_max_num_queries, partners
):
    for _ in range(partners):
        lease_accounts(make_partner(), count=3)

    with django_assert_max_num_queries(10):
        response = client.get(LEDGER)

    assert response.status_code == 200
    assert response.context["cl"].result_count == partners * 8


def test_ledger_filters_by_organization_kind_actor_and_dates(client, finance, partner):
    other = make_partner("Other Co")
    lease_accounts(partner, count=2, actor=finance)
    wallet_adjust(organization=partner.organization, amount_cents=500, actor=finance, memo="x")
    base = {"account__organization__id__exact": partner.organization.pk}

    def count(**params):
        response = client.get(LEDGER + "?" + urlencode({**base, **params}))
        assert response.status_code == 200
        return response.context["cl"].result_count

    assert count() == 4  # opening top-up, two charges, one adjustment: wallet legs only
    assert count(**{"transaction__kind__exact": "charge"}) == 2
    assert count(actor="fin") == 3
    assert count(actor="system") == 1
    today = LedgerEntry.objects.latest("pk").created_at.astimezone(FINANCE_TZ).date()
    assert count(created_from=today.isoformat(), created_to=today.isoformat()) == 4
    assert count(created_to=(today - timedelta(days=1)).isoformat()) == 0
    assert count(created_from=(today + timedelta(days=1)).isoformat()) == 0
    shown = client.get(LEDGER + "?" + urlencode(base)).context["cl"].result_list
    assert {e.account.organization_id for e in shown} == {partner.organization.pk}
    assert other.organization.pk != partner.organization.pk


def test_ledger_searches_by_reference(client, finance, partner):
    wallet_fund(organization=partner.organization, amount_cents=1_000, reference="WIRE-77")

    response = client.get(LEDGER + "?q=WIRE-77")

    assert response.context["cl"].result_count == 2
    assert {e.transaction.reference for e in response.context["cl"].result_list} == {"WIRE-77"}


def test_a_bad_date_in_the_ledger_filter_is_not_an_error_page(client, finance):
    response = client.get(LEDGER + "?created_from=yesterday")

    assert response.status_code == 200
    assert "“yesterday” is not a date" in response.content.decode()


def test_export_link_carries_the_filters_and_exports_exactly_the_filtered_set(
    client, finance, partner
):
    lease_accounts(partner, count=3)
    make_partner("Elsewhere")
    query = urlencode(
        {
            "account__organization__id__exact": partner.organization.pk,
            "transaction__kind__exact": "charge",
            "p": "1",
        }
    )
    response = client.get(f"{LEDGER}?{query}")
    page = response.content.decode()
    link = re.search(r'id="export-csv" href="([^"]+)">Export these (\d+) entries as CSV', page)
    assert link, page
    href = link.group(1).replace("&amp;", "&")
    assert int(link.group(2)) == response.context["cl"].result_count == 3

    rows = csv_rows(client.get(href))

    expected = LedgerEntry.objects.filter(
        account__organization=partner.organization, transaction__kind="charge"
    ).order_by("pk")
    assert [r["transaction_id"] for r in rows] == [e.transaction_id for e in expected]
    assert {r["amount_cents"] for r in rows} == {"-15000"}
    assert {r["organization"] for r in rows} == {partner.organization.name}


def test_export_of_an_unfiltered_ledger_holds_every_entry_across_pages(client, finance):
    for _ in range(3):
        lease_accounts(make_partner(), count=20)  # 3 * (2 + 40) = 126 entries, 2 pages

    rows = csv_rows(client.get(EXPORT))

    assert len(rows) == LedgerEntry.objects.count() == 126
    assert [int(r["balance_after_cents"]) for r in rows][:2] == [300_000, -300_000]


def test_selected_rows_export_as_csv(client, finance):
    org = OrganizationFactory(name="Export Co")
    wallet_fund(organization=org, amount_cents=30_000, memo="Opening")
    entries = list(LedgerEntry.objects.order_by("pk"))

    response = client.post(
        LEDGER,
        {"action": "export_csv", "_selected_action": [e.pk for e in entries]},
    )

    rows = csv_rows(response)
    assert [(r["account"], r["amount_cents"], r["memo"]) for r in rows] == [
        ("wallet", "30000", "Opening"),
        ("funding", "-30000", "Opening"),
    ]
    assert rows[0]["organization"] == "Export Co"
    assert rows[0]["time_utc"].endswith("Z")


def test_ledger_csv_never_exports_a_formula(client, finance):
    org = OrganizationFactory(name="=cmd|' /C calc'!A0")
    wallet_fund(
        organization=org,
        amount_cents=30_000,
        memo="@SUM(1+1)",
        reference='=HYPERLINK("http://evil")',
    )

    rows = csv_rows(client.get(EXPORT))

    assert rows[0]["memo"] == "'@SUM(1+1)"
    assert rows[0]["reference"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["organization"].startswith("'=")
    assert rows[1]["amount_cents"] == "-30000"  # numbers stay numbers


def test_ledger_export_streams_row_by_row(client, finance, partner):
    lease_accounts(partner, count=2)

    response = client.get(EXPORT)

    assert isinstance(response, StreamingHttpResponse)
    chunks = list(response.streaming_content)
    assert len(chunks) == 1 + LedgerEntry.objects.count()  # the header, then one per entry


def test_revenue_page_and_reversal_show_in_the_table(client, finance, partner):
    lease_accounts(partner, count=2)
    transaction_reverse(
        original=LedgerTransaction.objects.filter(kind="charge").first(), actor=None, memo="x"
    )

    page = client.get(reverse("admin:billing_wallet_revenue")).content.decode()

    assert 'class="chart stacked-bars"' in page
    assert page.count('class="bar"') == 24  # 12 months x (first months, renewals)
    this_month = datetime.now(FINANCE_TZ).strftime("%b %Y")
    drawn = dict(
        re.findall(rf'data-series="(\w+)" data-category="{this_month}" data-value="(\d+)"', page)
    )
    assert drawn == {"first_month": "30000", "renewals": "0"}  # gross, before the refund
    assert "$150.00" in page  # the refund, in the table


# --- the finance home panel (an inclusion tag the admin index includes) ----------------


def render_panel(user):
    from django.template import Context, Template
    from django.test import RequestFactory

    request = RequestFactory().get("/admin/")
    request.user = user
    return Template("{% load finance_panel %}{% finance_panel %}").render(
        Context({"request": request})
    )


def test_finance_panel_shows_money_to_finance_and_nothing_to_ops(partner):
    lease_accounts(partner, count=2)

    shown = render_panel(staff_in(FINANCE, "fin"))
    hidden = render_panel(staff_in(OPS, "ops-person"))

    assert 'id="finance-panel"' in shown
    assert "$2,700.00" in shown  # held in wallets
    assert "$300.00" in shown  # this month's first-month charges
    assert hidden.strip() == ""
