"""What the ops home panel shows: the queue at a glance and demand against supply.

A fixed number of queries (four) however many requests, accounts or pools there are.
"""

from dataclasses import dataclass, field

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from .models import AccountState, Lease, LeaseRequest, Pool, RequestStatus
from .validators import vertical_key


@dataclass
class VerticalDemand:
    vertical: str
    open_requests: int = 0
    still_needed: int = 0
    ready_supply: int = 0
    pools: list[str] = field(default_factory=list)

    @property
    def shortfall(self) -> int:
        return max(self.still_needed - self.ready_supply, 0)

    @property
    def short(self) -> bool:
        return self.shortfall > 0


@dataclass(frozen=True)
class QueuePanel:
    open_requests: int
    overdue: int
    unclaimed: int
    mine: int
    verticals: list[VerticalDemand]


def queue_panel(*, user=None, now=None) -> QueuePanel:
    now = now or timezone.now()
    open_requests = LeaseRequest.objects.filter(status=RequestStatus.REQUESTED)
    totals = open_requests.aggregate(
        open=Count("pk"),
        overdue=Count("pk", filter=Q(sla_due_at__lt=now)),
        unclaimed=Count("pk", filter=Q(claimed_by__isnull=True)),
        mine=Count("pk", filter=Q(claimed_by_id=getattr(user, "pk", None))),
    )
    demand: dict[str, VerticalDemand] = {}
    asked = (
        open_requests.values(key=F("vertical_key"))
        .annotate(n=Count("pk"), accounts=Sum("count"))
        .order_by()
    )
    for row in asked:
        demand[row["key"]] = VerticalDemand(
            vertical=row["key"], open_requests=row["n"], still_needed=row["accounts"]
        )
    assigned = (
        Lease.objects.filter(lease_request__status=RequestStatus.REQUESTED)
        .values(key=F("lease_request__vertical_key"))
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in assigned:
        if row["key"] in demand:
            demand[row["key"]].still_needed -= row["n"]
    pools = Pool.objects.annotate(
        ready=Count("accounts", filter=Q(accounts__state=AccountState.READY))
    ).only("pk", "name", "tags")
    for pool in pools:
        for tag in {vertical_key(t) for t in pool.tags}:
            row = demand.setdefault(tag, VerticalDemand(vertical=tag))
            row.ready_supply += pool.ready
            row.pools.append(pool.name)
    verticals = sorted(
        demand.values(),
        key=lambda d: (-d.shortfall, -d.still_needed, d.vertical),
    )
    return QueuePanel(
        open_requests=totals["open"],
        overdue=totals["overdue"],
        unclaimed=totals["unclaimed"],
        mine=totals["mine"],
        verticals=verticals,
    )
