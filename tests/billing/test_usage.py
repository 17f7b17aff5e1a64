"""Billing's view of leases: burn and runway, as leasing reports them."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.usage import LeaseUsage, RenewalDay, lease_usage, runway_days
from layers_ops.dates import add_months
from tests.factories import LeaseFactory, LeaseRequestFactory, ProjectFactory

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def usage(*days, price=15_000):
    return LeaseUsage(
        active_leases=len(days),
        monthly_burn_cents=price * len(days),
        renewals=[
            RenewalDay(on=NOW.replace(day=d).date(), leases=1, amount_cents=price) for d in days
        ],
    )


def test_runway_is_the_day_of_the_first_renewal_the_balance_cannot_pay():
    # Two leases renewing Mar 5 and Mar 20; $450 pays three renewals: Mar 5, Mar 20, Apr 5.
    assert runway_days(balance_cents=45_000, usage=usage(5, 20), now=NOW) == 50  # Apr 20


def test_runway_ends_at_the_next_renewal_when_the_balance_cannot_pay_it():
    assert runway_days(balance_cents=100, usage=usage(2), now=NOW) == 1


def test_no_leases_means_no_runway_figure():
    assert runway_days(balance_cents=100, usage=LeaseUsage(), now=NOW) is None


@pytest.mark.django_db
def test_leasing_reports_usage_per_organization():
    project = ProjectFactory()
    request = LeaseRequestFactory(project=project)
    LeaseFactory(lease_request=request)
    LeaseFactory(lease_request=request)
    LeaseFactory(lease_request=request, disconnected=True)

    found = lease_usage([project.organization_id, "org_none"])

    assert found[project.organization_id].active_leases == 2
    assert found[project.organization_id].monthly_burn_cents == 30_000
    assert found["org_none"] == LeaseUsage()


def _runway_lease_by_lease(balance, renewals, now, horizon_days=730):
    """The plain definition: every lease's renewals, month after month, in time order."""
    today = now.date()
    events = []
    for on, price in renewals:
        for step in range(30):
            events.append((add_months(on, step), price))
    events.sort(key=lambda event: event[0])
    for on, price in events:
        if on > today + timedelta(days=horizon_days):
            return None
        if balance < price:
            return max(0, (on - today).days)
        balance -= price
    return None


@given(
    leases=st.lists(
        st.tuples(st.integers(-12, 40), st.sampled_from([15_000, 10_000])), min_size=1, max_size=30
    ),
    balance=st.integers(0, 3_000_000),
)
def test_runway_over_renewal_days_equals_walking_every_lease(leases, balance):
    renewals = [(NOW.date() + timedelta(days=offset), price) for offset, price in leases]
    by_day: dict = {}
    for on, price in renewals:
        count, amount = by_day.get(on, (0, 0))
        by_day[on] = (count + 1, amount + price)
    usage = LeaseUsage(
        active_leases=len(renewals),
        monthly_burn_cents=sum(price for _, price in renewals),
        renewals=[
            RenewalDay(on=on, leases=n, amount_cents=a) for on, (n, a) in sorted(by_day.items())
        ],
    )

    assert runway_days(balance_cents=balance, usage=usage, now=NOW) == _runway_lease_by_lease(
        balance, renewals, NOW
    )


@pytest.mark.django_db
def test_wallet_usage_reads_one_query_however_many_leases(django_assert_num_queries):
    project = ProjectFactory()
    request = LeaseRequestFactory(project=project, count=50)
    LeaseFactory.create_batch(40, lease_request=request)

    with django_assert_num_queries(1):
        found = lease_usage([project.organization_id])[project.organization_id]

    assert found.active_leases == 40
    assert sum(day.leases for day in found.renewals) == 40
    assert len(found.renewals) <= 2  # one assignment moment: its renewals share a day
