"""Dates typed in a real browser: the ledger's date filter, the statement's month and the
date drill-downs answer with a message on the page, never an error page or the whole
list. Each screen is kept in ``E2E_SHOTS_DIR``."""

from datetime import UTC, datetime
from unittest import mock

import pytest

from billing.models import Wallet
from billing.services.movements import wallet_fund
from leasing.roles import FINANCE, OPS
from tests.billing.helpers import lease_accounts
from tests.conftest import make_partner
from tests.e2e.conftest import log_in, shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_finance_types_dates_out_of_reach_and_is_told_why(page, live_server):
    partner = make_partner("Date Typing Co")
    with mock.patch("django.utils.timezone.now", return_value=datetime(2026, 11, 1, 3, tzinfo=UTC)):
        wallet_fund(organization=partner.organization, amount_cents=45_000, memo="Oct 31 wire")
    wallet = Wallet.objects.get(organization=partner.organization)
    log_in(page, live_server, "fin-dates", FINANCE)

    page.goto(live_server.url + "/admin/billing/ledgerentry/")
    page.fill("#id_created_to", "9999-12-31")
    page.click("text=Apply dates")
    message = page.text_content(".messagelist .error")
    assert message.startswith("To: 9999-12-31 is outside the dates the ledger can filter on")
    assert page.locator("#export-csv").count() == 0
    assert (
        "0 entries" in page.text_content("#changelist") or page.locator("#result_list").count() == 0
    )
    shot(page, "ledger-to-9999")

    page.goto(live_server.url + "/admin/billing/ledgerentry/?created_from=abc")
    assert "“abc” is not a date" in page.text_content(".messagelist .error")
    page.goto(
        live_server.url
        + "/admin/billing/ledgerentry/?created_from=2026-11-20&created_to=2026-11-01"
    )
    assert "is after To" in page.text_content(".messagelist .error")
    shot(page, "ledger-from-after-to")

    page.goto(
        live_server.url
        + "/admin/billing/ledgerentry/?created_from=2026-10-31&created_to=2026-10-31"
    )
    assert page.locator("#result_list tbody tr").count() == 2  # the wire, both legs
    assert "Export these 2 entries as CSV" in page.text_content("#export-csv")
    shot(page, "ledger-oct-31")

    statement = live_server.url + f"/admin/billing/wallet/{wallet.pk}/statement/"
    page.goto(statement + "?month=2026-10")
    assert "Oct 31 wire" in page.text_content("#section-funding + table")
    shot(page, "statement-october")
    page.goto(statement + "?month=99999999999999999999-1")
    assert "is not" in page.text_content(".errornote")
    page.goto(statement + "?month=9999-12")
    assert "in the future" in page.text_content(".errornote")
    assert page.locator("#statement-summary").count() == 0
    shot(page, "statement-9999-12")

    page.goto(live_server.url + "/admin/billing/ledgertransaction/?created_at__year=9999")
    assert "Year 9999 is outside" in page.text_content(".messagelist .error")
    shot(page, "transactions-year-9999")


def test_ops_drills_down_to_year_9999_on_leases_and_is_told_why(page, live_server):
    lease_accounts(make_partner("Drill Co"), count=1)
    log_in(page, live_server, "ops-dates", OPS)

    page.goto(
        live_server.url
        + "/admin/leasing/lease/?assigned_at__year=9999&assigned_at__month=12&assigned_at__day=31"
    )

    assert "Year 9999 is outside" in page.text_content(".messagelist .error")
    shot(page, "leases-9999-12-31")
