"""Billing's view of leases: burn and runway, as leasing reports them."""

from datetime import UTC, datetime

import pytest

from billing.usage import LeaseUsage, Renewal, lease_usage, runway_days
from tests.factories import LeaseFactory, LeaseRequestFactory, ProjectFactory

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def usage(*days, price=15_000):
    return LeaseUsage(
        active_leases=len(days),
        monthly_burn_cents=price * len(days),
        renewals=[Renewal(at=NOW.replace(day=d), amount_cents=price) for d in days],
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
