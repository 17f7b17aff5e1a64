"""Dates finance and ops can type into the admin: every one gets a page that says what is
wrong (never a 500, never the whole list shown as if nothing had been asked)."""

from urllib.parse import urlencode

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry, Wallet
from billing.services.movements import wallet_fund
from leasing.roles import FINANCE, OPS
from tests.billing.helpers import lease_accounts, staff_in
from tests.factories import OrganizationFactory

pytestmark = pytest.mark.django_db

LEDGER = reverse("admin:billing_ledgerentry_changelist")
EXPORT = reverse("admin:billing_ledgerentry_export")
TRANSACTIONS = reverse("admin:billing_ledgertransaction_changelist")
LEASES = reverse("admin:leasing_lease_changelist")


@pytest.fixture
def finance(client):
    client.force_login(staff_in(FINANCE, "fin"))
    return client


@pytest.fixture
def ops(client):
    client.force_login(staff_in(OPS, "ops"))
    return client


@pytest.fixture
def funded(db):
    org = OrganizationFactory(name="Dates Co")
    wallet_fund(organization=org, amount_cents=10_000, memo="Opening")
    wallet_fund(organization=org, amount_cents=5_000, memo="Second")
    return org


def error_messages(response) -> list[str]:
    return [m.message for m in response.context["messages"] if m.level_tag == "error"]


def listed(response) -> int:
    return response.context["cl"].result_count


# --- the ledger's date filter ------------------------------------------------------------


@pytest.mark.parametrize(
    "params, field_word",
    [
        ({"created_to": "9999-12-31"}, "To"),
        ({"created_from": "9999-12-31"}, "From"),
        ({"created_from": "0001-01-01"}, "From"),
        ({"created_from": "abc"}, "From"),
        ({"created_to": "2026-02-30"}, "To"),
        ({"created_to": "99999999999999999999-01-01"}, "To"),
    ],
)
def test_a_date_the_ledger_cannot_filter_on_is_explained_and_lists_nothing(
    finance, funded, params, field_word
):
    response = finance.get(LEDGER + "?" + urlencode(params))

    assert response.status_code == 200
    [message] = error_messages(response)
    assert message.startswith(f"{field_word}:") and "nothing is listed" in message.lower()
    assert listed(response) == 0
    page = response.content.decode()
    assert 'id="export-csv"' not in page  # no "Export these N entries" for a filter not applied
    assert 'class="errorlist' in page  # the filter itself says what is wrong
    assert next(iter(params.values())) in page  # what was typed stays


def test_from_after_to_says_so_instead_of_an_empty_list(finance, funded):
    response = finance.get(LEDGER + "?created_from=2026-11-20&created_to=2026-11-01")

    assert response.status_code == 200
    [message] = error_messages(response)
    assert "From (2026-11-20) is after To (2026-11-01)" in message
    assert listed(response) == 0


def test_a_sensible_range_still_filters(finance, funded):
    response = finance.get(LEDGER + "?created_from=2000-01-01&created_to=2099-12-31")

    assert response.status_code == 200 and error_messages(response) == []
    assert listed(response) == LedgerEntry.objects.count() == 4


@pytest.mark.parametrize(
    "query",
    [
        "created_to=9999-12-31",
        "created_from=abc",
        "created_from=2026-11-20&created_to=2026-11-01",
        "created_to=99999999999999999999-1-1",
    ],
)
def test_exporting_with_a_bad_date_goes_back_to_the_list_that_explains_it(finance, funded, query):
    response = finance.get(f"{EXPORT}?{query}")

    assert response.status_code == 302
    assert response["Location"] == f"{LEDGER}?{query}"
    page = finance.get(response["Location"])
    assert len(error_messages(page)) == 1 and listed(page) == 0


# --- the statement's month ---------------------------------------------------------------


@pytest.mark.parametrize(
    "month", ["0001-01", "9999-12", "99999999999999999999-1", "2026-13", "abc", "1999-12"]
)
def test_a_statement_month_out_of_reach_is_explained_on_the_statement_page(finance, funded, month):
    wallet = Wallet.objects.get(organization=funded)
    url = reverse("admin:billing_wallet_statement", args=[wallet.pk])

    response = finance.get(url + "?" + urlencode({"month": month}))

    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="errornote"' in page and "Month" in page
    assert 'id="statement-summary"' not in page  # no figures for a month not shown
    assert 'name="month"' in page  # the picker is there to choose another
    csv_response = finance.get(url + "?" + urlencode({"month": month, "format": "csv"}))
    assert csv_response.status_code == 200
    assert csv_response["Content-Type"].startswith("text/html")  # the same page, not a CSV


def test_a_future_statement_month_is_explained(finance, funded):
    wallet = Wallet.objects.get(organization=funded)
    url = reverse("admin:billing_wallet_statement", args=[wallet.pk])

    page = finance.get(url + "?month=2999-01").content.decode()

    assert "in the future" in page and 'id="statement-summary"' not in page


# --- date drill-downs (date_hierarchy) ---------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"year": "9999"},
        {"year": "9999", "month": "12"},
        {"year": "9999", "month": "12", "day": "31"},
        {"year": "0"},
        {"year": "abc"},
        {"year": "2026", "month": "13"},
        {"year": "99999999999999999999"},
    ],
)
def test_a_transaction_drill_down_out_of_reach_is_explained(finance, funded, params):
    query = urlencode({f"created_at__{k}": v for k, v in params.items()})

    response = finance.get(f"{TRANSACTIONS}?{query}")

    assert response.status_code == 200
    [message] = error_messages(response)
    assert "nothing is listed" in message.lower()
    assert listed(response) == 0


@pytest.mark.parametrize(
    "params", [{"year": "9999"}, {"year": "9999", "month": "12", "day": "31"}, {"year": "x"}]
)
def test_a_lease_drill_down_out_of_reach_is_explained(ops, partner, params):
    lease_accounts(partner, count=1)
    query = urlencode({f"assigned_at__{k}": v for k, v in params.items()})

    response = ops.get(f"{LEASES}?{query}")

    assert response.status_code == 200
    [message] = error_messages(response)
    assert "nothing is listed" in message.lower()
    assert listed(response) == 0


def test_drill_downs_within_reach_still_work(client, funded, partner):
    lease_accounts(partner, count=1)
    year = timezone.localtime().year

    client.force_login(staff_in(FINANCE, "fin"))
    transactions = client.get(f"{TRANSACTIONS}?created_at__year={year}")
    assert error_messages(transactions) == [] and listed(transactions) >= 2

    client.force_login(staff_in(OPS, "ops"))
    leases = client.get(f"{LEASES}?assigned_at__year={year}")
    assert error_messages(leases) == [] and listed(leases) == 1
