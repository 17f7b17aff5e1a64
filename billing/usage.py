"""What billing knows of leases, supplied by the app that owns them.

Billing never imports leasing. Leasing registers, when the app loads, a provider that
answers for a set of organizations how many leases each has running and when they renew;
the wallet figures (burn, runway) and the finance console are computed from that.
"""

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

from layers_ops.dates import add_months


@dataclass(frozen=True)
class RenewalDay:
    """The leases whose next renewal falls on one (UTC) day, and what they cost together."""

    on: date
    leases: int
    amount_cents: int


@dataclass(frozen=True)
class LeaseUsage:
    active_leases: int = 0
    past_due_leases: int = 0
    monthly_burn_cents: int = 0
    past_due_cents: int = 0  # what the past-due leases cost a month (what is owed)
    # The active leases' next renewals grouped by day, so a wallet with thousands of
    # leases is a few dozen rows here: the runway walk costs what the calendar holds,
    # not what the wallet holds.
    renewals: list[RenewalDay] = field(default_factory=list)


UsageProvider = Callable[[Iterable[str]], dict[str, LeaseUsage]]
_providers: list[UsageProvider] = []


def register_usage_provider(provider: UsageProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def lease_usage(organization_ids: Iterable[str]) -> dict[str, LeaseUsage]:
    """Usage per organization id; an organization with no leases gets an empty one."""
    organization_ids = list(organization_ids)
    found: dict[str, LeaseUsage] = {}
    for provider in _providers:
        found.update(provider(organization_ids))
    return {org: found.get(org, LeaseUsage()) for org in organization_ids}


def runway_days(
    *, balance_cents: int, usage: LeaseUsage, now: datetime | None = None, horizon_days=730
) -> int | None:
    """Whole days from today (UTC) to the day a renewal falls due that the balance cannot
    pay, renewals paid in time order, each lease renewing monthly from its next renewal.
    ``None`` when nothing renews, or when the balance outlasts ``horizon_days``.

    The walk is over renewal *days*, not leases, so its cost never depends on how many
    leases a wallet holds. When the next renewals all fall within one month (the usual
    case: every lease renews once between now and a month from now), each month's
    renewals come after the previous month's, so the whole months the balance pays are
    skipped by division and only the month it runs out in is walked: O(renewal days).
    Otherwise (past-due stragglers), the days are walked month by month up to the horizon.
    """
    if not usage.renewals:
        return None
    today = (now or timezone.now()).astimezone(UTC).date()
    horizon = today + timedelta(days=horizon_days)
    days = sorted(usage.renewals, key=lambda day: day.on)
    per_month = sum(day.amount_cents for day in days)
    if per_month <= 0:
        return None
    if days[-1].on < add_months(days[0].on, 1):
        months, balance = divmod(balance_cents, per_month)
        for day in days:  # balance < per_month: some day of this month is short
            on = add_months(day.on, months)
            if on > horizon:
                return None
            if balance < day.amount_cents:
                return max(0, (on - today).days)
            balance -= day.amount_cents
    return _runway_walked(balance_cents, days, today=today, horizon=horizon)


def _runway_walked(balance: int, days: list[RenewalDay], *, today: date, horizon: date):
    """The general walk: every renewal day, month after month, in time order."""
    queue = [(day.on, index, 0) for index, day in enumerate(days)]  # (when, day, months on)
    heapq.heapify(queue)
    while queue:
        on, index, step = heapq.heappop(queue)
        if on > horizon:
            return None
        if balance < days[index].amount_cents:
            return max(0, (on - today).days)
        balance -= days[index].amount_cents
        heapq.heappush(queue, (add_months(days[index].on, step + 1), index, step + 1))
    return None
