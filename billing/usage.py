"""What billing knows of leases, supplied by the app that owns them.

Billing never imports leasing. Leasing registers, when the app loads, a provider that
answers for a set of organizations how many leases each has running and when they renew;
the wallet figures (burn, runway) and the finance console are computed from that.
"""

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from layers_ops.dates import add_months


@dataclass(frozen=True)
class Renewal:
    at: datetime  # the lease's next renewal
    amount_cents: int


@dataclass(frozen=True)
class LeaseUsage:
    active_leases: int = 0
    past_due_leases: int = 0
    monthly_burn_cents: int = 0
    renewals: list[Renewal] = field(default_factory=list)  # each active lease's next one


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
    """Whole days until the balance stops covering a renewal, walking every active
    lease's renewals month by month in time order (each from its own next renewal).
    ``None`` when nothing renews, or when the balance outlasts ``horizon_days``."""
    if not usage.renewals:
        return None
    now = now or timezone.now()
    horizon = now + timedelta(days=horizon_days)
    # (when, lease index, months after its next renewal)
    queue = [(r.at, i, 0) for i, r in enumerate(usage.renewals)]
    heapq.heapify(queue)
    balance = balance_cents
    while queue:
        at, index, step = heapq.heappop(queue)
        if at > horizon:
            return None
        amount = usage.renewals[index].amount_cents
        if balance < amount:
            return max(0, (at - now).days)
        balance -= amount
        first = usage.renewals[index].at
        heapq.heappush(queue, (add_months(first, step + 1), index, step + 1))
    return None
