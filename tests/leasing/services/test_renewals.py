"""Renewals: each lease pays for each month from its assignedAt, once, oldest first."""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import ledger_verify, wallet_balance_cents
from billing.services.charges import lease_charge
from billing.services.movements import wallet_fund
from leasing.models import AccountEvent, AccountState, BillingStatus, LeaseStatus
from leasing.services.renewals import leases_renew
from tests.conftest import make_partner
from tests.factories import LeaseFactory, LeaseRequestFactory

pytestmark = pytest.mark.django_db

PRICE = 15_000
JAN_31 = datetime(2026, 1, 31, 10, 0, tzinfo=UTC)


def lease_for(partner, assigned_at, **fields):
    request = LeaseRequestFactory(project=partner.project)
    return LeaseFactory(lease_request=request, assigned_at=assigned_at, **fields)


def renewals_of(lease):
    return list(
        LedgerTransaction.objects.filter(lease_id=lease.pk, kind=TransactionKind.RENEWAL)
        .order_by("period")
        .values_list("period", flat=True)
    )


def balance(partner):
    return wallet_balance_cents(organization_id=partner.organization.pk)


def test_a_jan_31_lease_renews_feb_28_then_mar_31(db):
    partner = make_partner(wallet_cents=10 * PRICE)
    lease = lease_for(partner, JAN_31)
    assert lease.next_renewal_at == datetime(2026, 2, 28, 10, 0, tzinfo=UTC)

    early = leases_renew(at=datetime(2026, 2, 28, 9, 59, tzinfo=UTC))
    on_time = leases_renew(at=datetime(2026, 2, 28, 10, 0, tzinfo=UTC))
    lease.refresh_from_db()

    assert (early.renewed, on_time.renewed) == (0, 1)
    assert lease.periods_paid == 2
    assert lease.next_renewal_at == datetime(2026, 3, 31, 10, 0, tzinfo=UTC)
    leases_renew(at=datetime(2026, 3, 31, 10, 0, tzinfo=UTC))
    lease.refresh_from_db()
    assert lease.next_renewal_at == datetime(2026, 4, 30, 10, 0, tzinfo=UTC)
    assert renewals_of(lease) == [1, 2]
    assert balance(partner) == 8 * PRICE
    assert ledger_verify() == []


def test_a_renewal_costs_the_lease_own_price_and_names_the_account(db):
    partner = make_partner(wallet_cents=10 * PRICE)
    lease = lease_for(partner, JAN_31, monthly_price_cents=9_900)

    leases_renew(at=datetime(2026, 3, 1, tzinfo=UTC))

    txn = LedgerTransaction.objects.get(lease_id=lease.pk, period=1)
    assert txn.kind == TransactionKind.RENEWAL and txn.actor_label == "system"
    assert txn.memo == f"Renewal @{lease.social_account.handle}, month 2"
    assert txn.partner_description == txn.memo
    assert txn.reference == lease.social_account_id
    assert balance(partner) == 10 * PRICE - 9_900


def test_reruns_and_overlapping_times_charge_each_period_once(db):
    partner = make_partner(wallet_cents=10 * PRICE)
    lease = lease_for(partner, JAN_31)
    at = datetime(2026, 3, 1, tzinfo=UTC)

    first = leases_renew(at=at)
    again = leases_renew(at=at)
    earlier = leases_renew(at=at - timedelta(days=1))

    assert (first.renewed, again.renewed, earlier.renewed) == (1, 0, 0)
    assert again.periods_charged == earlier.periods_charged == 0
    assert renewals_of(lease) == [1]
    assert balance(partner) == 9 * PRICE


def test_a_run_in_the_past_charges_nothing_and_one_far_ahead_charges_each_month(db):
    partner = make_partner(wallet_cents=10 * PRICE)
    lease = lease_for(partner, JAN_31)

    assert leases_renew(at=JAN_31 + timedelta(days=20)).leases_claimed == 0
    ahead = leases_renew(at=datetime(2026, 5, 1, tzinfo=UTC))  # Feb 28, Mar 31, Apr 30
    lease.refresh_from_db()

    assert (ahead.renewed, ahead.periods_charged, ahead.charged_cents) == (1, 3, 3 * PRICE)
    assert renewals_of(lease) == [1, 2, 3]
    assert lease.periods_paid == 4
    assert lease.next_renewal_at == datetime(2026, 5, 31, 10, 0, tzinfo=UTC)
    assert lease.billing_status == BillingStatus.CURRENT


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_a_short_wallet_renews_its_oldest_leases_first(db, batch_size):
    short = make_partner(wallet_cents=2 * PRICE + 100)
    rich = make_partner(wallet_cents=10 * PRICE)
    # Created out of age order, and interleaved with another organization's leases.
    younger = lease_for(short, JAN_31 + timedelta(hours=3))
    rich_leases = [lease_for(rich, JAN_31 + timedelta(hours=h)) for h in (0, 2, 4)]
    oldest = lease_for(short, JAN_31)
    youngest = lease_for(short, JAN_31 + timedelta(hours=4))
    second = lease_for(short, JAN_31 + timedelta(hours=1))
    at = datetime(2026, 3, 2, tzinfo=UTC)

    summary = leases_renew(at=at, batch_size=batch_size)

    assert (summary.renewed, summary.past_due, summary.disconnected) == (5, 2, 0)
    assert [bool(renewals_of(lease)) for lease in (oldest, second, younger, youngest)] == [
        True,
        True,
        False,
        False,
    ]
    assert all(renewals_of(lease) == [1] for lease in rich_leases)
    for lease in (younger, youngest):
        lease.refresh_from_db()
        assert lease.billing_status == BillingStatus.PAST_DUE
        assert lease.past_due_since == at
        assert lease.periods_paid == 1 and lease.status == LeaseStatus.ASSIGNED
    assert balance(short) == 100
    assert ledger_verify() == []


def test_past_due_leases_are_retried_through_grace_then_disconnected(db, settings):
    settings.RENEWAL_GRACE_DAYS = 3
    partner = make_partner(wallet_cents=0)
    lease = lease_for(partner, JAN_31)
    due = lease.next_renewal_at

    first = leases_renew(at=due)
    during = leases_renew(at=due + timedelta(days=2, hours=23))
    lease.refresh_from_db()
    assert (first.past_due, during.past_due) == (1, 1)
    assert lease.past_due_since == due  # the first failure, not the latest retry
    assert lease.status == LeaseStatus.ASSIGNED

    after = leases_renew(at=due + timedelta(days=3))
    lease.refresh_from_db()

    assert (after.past_due, after.disconnected) == (0, 1)
    assert lease.status == LeaseStatus.DISCONNECTED
    assert lease.disconnected_reason == "unpaid"
    assert lease.disconnected_at == due + timedelta(days=3)
    assert lease.next_renewal_at is None
    account = lease.social_account
    account.refresh_from_db()
    assert account.state == AccountState.COOLDOWN
    event = AccountEvent.objects.get(account=account)
    assert (event.from_state, event.to_state) == (AccountState.LEASED, AccountState.COOLDOWN)
    assert event.actor is None and event.actor_label == "system"
    assert not renewals_of(lease)
    assert leases_renew(at=due + timedelta(days=60)).leases_claimed == 0  # ended for good


def test_a_top_up_during_grace_renews_with_one_charge_per_owed_period(db):
    partner = make_partner(wallet_cents=0)
    lease = lease_for(partner, JAN_31)
    at = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)  # Feb 28 and Mar 31 have both started

    assert leases_renew(at=at).past_due == 1
    wallet_fund(organization=partner.organization, amount_cents=2 * PRICE + 1)
    summary = leases_renew(at=at + timedelta(days=1))
    lease.refresh_from_db()

    assert (summary.renewed, summary.periods_charged) == (1, 2)
    assert renewals_of(lease) == [1, 2]
    assert lease.billing_status == BillingStatus.CURRENT and lease.past_due_since is None
    assert lease.periods_paid == 3
    assert lease.next_renewal_at == datetime(2026, 4, 30, 10, 0, tzinfo=UTC)
    assert balance(partner) == 1


def test_a_lease_paid_for_some_owed_periods_stays_past_due_from_its_first_failure(db):
    partner = make_partner(wallet_cents=0)
    lease = lease_for(partner, JAN_31)
    at = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    leases_renew(at=at)
    wallet_fund(organization=partner.organization, amount_cents=PRICE)

    leases_renew(at=at + timedelta(hours=1))
    lease.refresh_from_db()

    assert renewals_of(lease) == [1]
    assert lease.periods_paid == 2
    assert lease.billing_status == BillingStatus.PAST_DUE and lease.past_due_since == at


def test_the_partner_sees_billing_status_and_the_next_renewal(db):
    partner = make_partner(wallet_cents=PRICE)
    paid = lease_for(partner, JAN_31)
    unpaid = lease_for(partner, JAN_31 + timedelta(hours=1))
    leases_renew(at=datetime(2026, 3, 1, tzinfo=UTC))

    items = {
        item["socialAccountId"]: item
        for item in partner.client.get("/v1/leased-accounts").json()["items"]
    }

    assert items[paid.social_account_id]["billingStatus"] == "current"
    assert items[paid.social_account_id]["nextRenewalAt"] == "2026-03-31T10:00:00Z"
    assert items[unpaid.social_account_id]["billingStatus"] == "past_due"
    assert items[unpaid.social_account_id]["nextRenewalAt"] == "2026-02-28T11:00:00Z"


def leases_due(n, partner, assigned_at):
    return [
        LeaseFactory(
            lease_request=LeaseRequestFactory(project=partner.project, count=1),
            assigned_at=assigned_at,
        )
        for _ in range(n)
    ]


@pytest.fixture
def revenue_account_exists(db):
    """The first charge ever opens the revenue account; measure the runs after it."""
    lease = leases_due(1, make_partner(wallet_cents=PRICE), JAN_31 + timedelta(days=365))[0]
    lease_charge(organization_id=lease.project.organization_id, lease_id=lease.pk, amount_cents=1)


def test_a_batch_runs_a_fixed_number_of_queries_however_many_leases_it_holds(
    revenue_account_exists,
):
    # Half of each batch goes past due (each outcome costs its own statements, whatever
    # the number of leases: past due also looks for webhook subscribers, once).
    small = make_partner(wallet_cents=5 * PRICE)
    large = make_partner(wallet_cents=50 * PRICE)
    leases_due(10, small, JAN_31)
    leases_due(100, large, JAN_31 + timedelta(days=1))
    with CaptureQueriesContext(connection) as ten:
        ten_summary = leases_renew(at=datetime(2026, 2, 28, 12, tzinfo=UTC))
        assert (ten_summary.renewed, ten_summary.past_due) == (5, 5)

    with CaptureQueriesContext(connection) as hundred:
        summary = leases_renew(at=datetime(2026, 3, 1, 12, tzinfo=UTC))

    # large: 50 renewed and 50 past due; small's 5 are still past due, retried
    assert (summary.renewed, summary.past_due) == (50, 55)
    assert len(hundred) == len(ten)


def test_disconnecting_a_batch_runs_a_fixed_number_of_queries(
    revenue_account_exists, settings, django_assert_max_num_queries
):
    settings.RENEWAL_GRACE_DAYS = 0
    few, many = make_partner(wallet_cents=0), make_partner(wallet_cents=0)
    leases_due(10, few, JAN_31)
    with CaptureQueriesContext(connection) as ten:
        assert leases_renew(at=datetime(2026, 2, 28, 12, tzinfo=UTC)).disconnected == 10
    leases_due(100, many, JAN_31)

    with django_assert_max_num_queries(len(ten)):
        assert leases_renew(at=datetime(2026, 2, 28, 12, tzinfo=UTC)).disconnected == 100


def test_the_command_prints_a_summary_and_progress_when_asked(db):
    partner = make_partner(wallet_cents=PRICE)
    lease_for(partner, JAN_31)
    lease_for(partner, JAN_31 + timedelta(hours=1))
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "renew_leases",
        "--at",
        "2026-03-01T00:00:00Z",
        "--batch-size",
        "1",
        "-v",
        "2",
        stdout=out,
        stderr=err,
    )

    assert out.getvalue().startswith(
        "Renewals as of 2026-03-01T00:00:00Z: 1 renewed (1 period(s), $150.00 charged), "
        "1 past due, 0 disconnected"
    )
    assert err.getvalue().count("batch ") == 2


def test_the_command_is_quiet_on_stderr_without_a_tty_and_refuses_a_bad_time(db):
    out, err = io.StringIO(), io.StringIO()
    call_command("renew_leases", "--at", "2026-03-01", stdout=out, stderr=err)
    assert "0 renewed" in out.getvalue() and err.getvalue() == ""

    with pytest.raises(CommandError, match="RFC 3339"):
        call_command("renew_leases", "--at", "next tuesday", stdout=out)
