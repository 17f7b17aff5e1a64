"""What finance reads: dollars everywhere, the balance chart over the period asked,
reconciliation runs remembered for the home page, and one date format."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from billing.charts import balance_line_svg
from billing.models import LedgerAccount, LedgerEntry, ReconciliationRun, Wallet
from billing.reconciliation import reconcile
from billing.selectors import balance_history
from leasing.roles import FINANCE, OPS
from tests.billing.helpers import lease_accounts, staff_in

pytestmark = pytest.mark.django_db

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def finance(client):
    user = staff_in(FINANCE, "fin-display")
    client.force_login(user)
    return user


def wallet_of(partner) -> Wallet:
    return Wallet.objects.get(organization=partner.organization)


def test_an_entry_page_reads_in_dollars(client, finance, partner):
    entry = LedgerEntry.objects.get(account=wallet_of(partner))

    page = client.get(reverse("admin:billing_ledgerentry_change", args=[entry.pk])).content.decode()

    assert "+$3,000.00 on Wallet of" in page
    assert "300000" not in page and "Amount cents" not in page


def test_reconciliation_speaks_dollars(partner):
    LedgerAccount.objects.filter(pk=wallet_of(partner).pk).update(balance_cents=300_150)

    (problem,) = reconcile()

    assert "$3,001.50" in problem.detail and "+$1.50" in problem.detail
    assert "cents" not in problem.detail


def test_each_reconciliation_run_is_recorded_with_its_result(client, finance, partner):
    client.get(reverse("admin:billing_wallet_reconciliation"))
    LedgerAccount.objects.filter(pk=wallet_of(partner).pk).update(balance_cents=1)
    with pytest.raises(Exception):  # noqa: B017 (CommandError: problems found)
        call_command("verify_ledger")

    clean, broken = ReconciliationRun.objects.order_by("pk")
    assert (clean.source, clean.result, clean.actor_label) == ("console", "clean", "fin-display")
    assert (broken.source, broken.result) == ("command", "1 problem")
    assert broken.broken_checks == ["balance matches entries"]


def test_finance_home_says_when_the_ledger_was_last_reconciled(client, finance, partner):
    page = client.get(reverse("admin:index")).content.decode()
    assert "Last reconciled: never" in page

    client.get(reverse("admin:billing_wallet_reconciliation"))
    page = client.get(reverse("admin:index")).content.decode()

    assert re.search(r"Clean</span> Last reconciled \d{4}-\d\d-\d\d \d\d:\d\d", page)


def test_finance_home_lists_the_wallets_that_run_out_soonest(client, finance, partner):
    lease_accounts(partner, count=2)

    page = client.get(reverse("admin:index")).content.decode()

    soonest = page[page.index('id="runs-out-soonest"') :]
    assert partner.organization.name in soonest
    assert "$300.00" in page  # monthly burn of two leases


def test_ops_home_has_no_money_position(client, partner):
    client.force_login(staff_in(OPS, "ops-display"))

    page = client.get(reverse("admin:index")).content.decode()

    assert 'id="ops-panel"' in page and 'id="finance-panel"' not in page


def test_the_balance_chart_covers_the_period_asked(client, finance, partner):
    wallet = wallet_of(partner)

    page = client.get(
        reverse("admin:billing_wallet_change", args=[wallet.pk]) + "?chart=90d"
    ).content.decode()

    since = timezone.localtime(timezone.now() - timedelta(days=90)).strftime("%Y-%m-%d")
    assert f"{since} to " in page
    assert "<strong>90 days</strong>" in page


def test_a_long_history_is_drawn_one_point_a_day(partner):
    wallet = wallet_of(partner)
    start = timezone.now() - timedelta(days=3)
    history = balance_history(wallet=wallet, since=start, max_points=0)

    assert history.by_day and history.entries == 1
    assert [value for _, value in history.points] == [0, 300_000, 300_000]


def test_dollar_labels_fit_left_of_the_axis():
    points = [
        (datetime(2026, 1, 1, tzinfo=UTC), 999_999_999),
        (datetime(2026, 6, 1, tzinfo=UTC), 1),
    ]

    root = ET.fromstring(str(balance_line_svg(points=points, title="Big")))

    labels = [t for t in root.iter(f"{SVG}text") if t.text and t.text.startswith("$")]
    assert "$10,000,000.00" in [t.text for t in labels]
    # right-aligned at x; ~0.62 em a character at 11 px must stay inside the picture
    assert all(float(t.get("x")) - len(t.text) * 11 * 0.62 >= 0 for t in labels)


def test_lists_use_the_one_date_format(client, finance, partner):
    page = client.get(
        reverse("admin:billing_wallet_change", args=[wallet_of(partner).pk])
    ).content.decode()

    assert re.search(r"Created at:.*?\d{4}-\d\d-\d\d \d\d:\d\d", page, re.S)
    assert "p.m." not in page and "a.m." not in page


def test_a_long_memo_cannot_widen_the_transactions_list(admin_client, partner):
    from billing.services.movements import wallet_adjust

    memo = "x" * 400 + " see ticket"
    wallet_adjust(organization=partner.organization, amount_cents=100, actor=None, memo=memo)

    page = admin_client.get(reverse("admin:billing_ledgertransaction_changelist")).content
    page = page.decode()

    assert "x" * 31 not in page.replace(f'title="{memo}"', "")  # cut in the cell
    assert f'title="{memo}"' in page  # whole on hover


def test_an_unknown_chart_period_shows_all_history(client, finance, partner):
    page = client.get(
        reverse("admin:billing_wallet_change", args=[wallet_of(partner).pk]) + "?chart=9999y"
    ).content.decode()

    assert "<strong>All history</strong>" in page


def test_the_finance_home_reads_a_fixed_number_of_queries(
    client, finance, django_assert_max_num_queries
):
    from tests.conftest import make_partner

    for _ in range(2):
        lease_accounts(make_partner(), count=1)
    client.get(reverse("admin:index"))
    with django_assert_max_num_queries(30) as few:
        client.get(reverse("admin:index"))
    for _ in range(6):
        lease_accounts(make_partner(), count=1)

    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("admin:index"))
