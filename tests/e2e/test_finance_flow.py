"""A finance person in a real browser: top up, refund a charge with a reason, download
the ledger and the month's statement, and find the same numbers the partner sees."""

import csv
import urllib.parse

import pytest

from billing.models import LedgerTransaction, Wallet
from leasing.roles import FINANCE
from tests.billing.helpers import lease_accounts
from tests.conftest import make_partner
from tests.e2e.conftest import api, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def wallet_as_the_partner_sees_it(live_server, partner) -> dict:
    """What GET /v1/wallet and GET /v1/wallet/ledger answer for this partner (every page)."""
    _, wallet = api(live_server, "/v1/wallet", partner.token)
    entries, cursor = [], None
    while True:
        query = "?limit=200" + (f"&cursor={urllib.parse.quote(cursor)}" if cursor else "")
        _, page = api(live_server, "/v1/wallet/ledger" + query, partner.token)
        entries += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    return {
        "balanceCents": wallet["balanceCents"],
        "ledger": [
            {
                "transactionId": e["transactionId"],
                "amountCents": e["amountCents"],
                "balanceAfterCents": e["balanceAfterCents"],
            }
            for e in entries
        ],
    }


def read_csv(download) -> list[list[str]]:
    with open(download.path(), newline="") as handle:
        return list(csv.reader(handle))


def test_finance_tops_up_refunds_and_downloads_the_books(page, live_server):
    partner = make_partner("Browser Books Co")  # $3,000 opening top-up
    allocation = lease_accounts(partner, count=2)  # two first-month charges, $150 each
    charge = LedgerTransaction.objects.get(kind="charge", lease_id=allocation.leases[0].pk)
    wallet = Wallet.objects.get(organization=partner.organization)
    log_in(page, live_server, "fin-e2e", FINANCE)

    page.goto(live_server.url + "/admin/billing/wallet/")
    page.click("text=Browser Books Co")
    page.click("text=Top up")
    page.fill("#id_amount", "500.00")
    page.fill("#id_reason", "Wire received from Browser Books")
    page.fill("#id_reference", "WIRE-E2E-1")
    page.click("input[type=submit]")
    assert "balance now $3,200.00" in page.text_content(".messagelist")

    page.click("text=Refund a charge")
    page.click("#id_charge + .select2 .select2-selection")
    page.keyboard.type(charge.memo.split()[1])  # search by the account's handle
    page.locator(".select2-results__option", has_text=charge.pk).click()
    page.fill("#id_reason", "Account banned on day one")
    page.click("input[type=submit]")
    assert "balance now $3,350.00" in page.text_content(".messagelist")
    refund = LedgerTransaction.objects.get(reverses=charge)
    assert (refund.memo, refund.actor_label) == ("Account banned on day one", "fin-e2e")

    page.click(
        ".object-tools >> text=Ledger entries"
    )  # the wallet's entries, filtered by organization
    link = page.locator("#export-csv")
    assert link.text_content().strip() == "Export these 5 entries as CSV"
    with page.expect_download() as ledger_download:
        link.click()
    ledger = read_csv(ledger_download.value)

    page.goto(live_server.url + f"/admin/billing/wallet/{wallet.pk}/statement/")
    with page.expect_download() as statement_download:
        page.click("text=Download this statement as CSV")
    statement_csv = read_csv(statement_download.value)
    amount = statement_csv[0].index("amount_cents")
    statement = {row[0]: row for row in statement_csv[1:]}

    seen = wallet_as_the_partner_sees_it(live_server, partner)
    header, rows = ledger[0], [dict(zip(ledger[0], row, strict=True)) for row in ledger[1:]]
    assert "balance_after_cents" in header
    assert [
        (r["transaction_id"], int(r["amount_cents"]), int(r["balance_after_cents"]))
        for r in reversed(rows)
    ] == [(e["transactionId"], e["amountCents"], e["balanceAfterCents"]) for e in seen["ledger"]]
    assert int(rows[-1]["balance_after_cents"]) == seen["balanceCents"] == 335_000
    assert int(statement["Opening balance"][amount]) == 0
    assert int(statement["Top-ups total"][amount]) == 350_000
    assert int(statement["First-month charges total"][amount]) == -30_000
    assert int(statement["Refunds (reversals) total"][amount]) == 15_000
    assert int(statement["Closing balance"][amount]) == seen["balanceCents"]
