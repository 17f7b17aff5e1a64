"""What the ops home panel shows: the queue at a glance and demand against supply.

Demand is grouped by niche (vertical, language, geos) and set against the ready accounts
that fit it: in a pool tagged with the vertical, speaking the language (``leasing.fit``)
and with followers in at least one of the countries asked. Accounts that only share the
vertical are shown apart (``in_vertical``), never as cover.

A fixed number of queries (four) however many requests, accounts, pools or niches there
are: ready accounts are counted once, grouped by pool and follower geos, and each niche
sums the groups that fit it.
"""

from dataclasses import dataclass, field

from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from layers_ops.partners.models import KeyEnvironment

from .fit import geo_fits, language_fits
from .models import AccountState, Lease, LeaseRequest, Pool, RequestStatus, SocialAccount
from .validators import vertical_key


@dataclass
class VerticalDemand:
    vertical: str
    language: str = ""
    geo: tuple[str, ...] = ()
    open_requests: int = 0
    still_needed: int = 0
    ready_supply: int = 0  # ready accounts that fit vertical, language and geo
    in_vertical: int = 0  # ready accounts in pools tagged with the vertical, fit or not
    pools: list[str] = field(default_factory=list)
    demanded: bool = True

    @property
    def shortfall(self) -> int:
        return max(self.still_needed - self.ready_supply, 0)

    @property
    def misfits(self) -> int:
        """Ready accounts of the vertical that miss the language or geo asked."""
        return max(self.in_vertical - self.ready_supply, 0) if self.demanded else 0

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


def _niche(key: str, language: str, geo) -> tuple[str, str, tuple[str, ...]]:
    return key, language or "", tuple(sorted({str(c).upper() for c in geo or []}))


def queue_panel(*, user=None, now=None) -> QueuePanel:
    now = now or timezone.now()
    # Live only: test-mode requests fulfil themselves and never reach ops.
    open_requests = LeaseRequest.objects.filter(
        status=RequestStatus.REQUESTED, organization__environment=KeyEnvironment.LIVE
    )
    totals = open_requests.aggregate(
        open=Count("pk"),
        overdue=Count("pk", filter=Q(sla_due_at__lt=now)),
        unclaimed=Count("pk", filter=Q(claimed_by__isnull=True)),
        mine=Count("pk", filter=Q(claimed_by_id=getattr(user, "pk", None))),
    )
    demand: dict[tuple, VerticalDemand] = {}
    asked = (
        open_requests.annotate(key=F("vertical_key"))
        .values("key", "language", "geo")
        .annotate(n=Count("pk"), accounts=Sum("count"))
        .order_by()
    )
    for row in asked:
        niche = _niche(row["key"], row["language"], row["geo"])
        entry = demand.setdefault(
            niche, VerticalDemand(vertical=niche[0], language=niche[1], geo=niche[2])
        )
        entry.open_requests += row["n"]
        entry.still_needed += row["accounts"]
    assigned = (
        Lease.objects.filter(
            lease_request__status=RequestStatus.REQUESTED,
            lease_request__organization__environment=KeyEnvironment.LIVE,
        )
        .annotate(key=F("lease_request__vertical_key"))
        .values("key", "lease_request__language", "lease_request__geo")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in assigned:
        niche = _niche(row["key"], row["lease_request__language"], row["lease_request__geo"])
        if niche in demand:
            demand[niche].still_needed -= row["n"]
    # Ready accounts by (pool, follower geos): one scan, however many niches are asked.
    ready_by_pool: dict[int, list[tuple[list, int]]] = {}
    for row in (
        SocialAccount.objects.filter(state=AccountState.READY, pool__sandbox_of__isnull=True)
        .values("pool_id", "follower_geos")
        .annotate(n=Count("pk"))
        .order_by()
    ):
        ready_by_pool.setdefault(row["pool_id"], []).append((row["follower_geos"], row["n"]))
    idle: dict[str, VerticalDemand] = {}
    for pool in Pool.objects.filter(sandbox_of__isnull=True).only("pk", "name", "tags", "language"):
        tags = {vertical_key(str(t)) for t in pool.tags}
        groups = ready_by_pool.get(pool.pk, [])
        ready = sum(n for _, n in groups)
        for (vertical, language, geos), entry in demand.items():
            if vertical not in tags:
                continue
            entry.in_vertical += ready
            if language_fits(pool.language, language):
                entry.ready_supply += sum(n for follower, n in groups if geo_fits(follower, geos))
                entry.pools.append(pool.name)
        for tag in tags - {niche[0] for niche in demand}:
            row = idle.setdefault(tag, VerticalDemand(vertical=tag, demanded=False))
            row.ready_supply += ready
            row.in_vertical += ready
            row.pools.append(pool.name)
    verticals = sorted(
        [*demand.values(), *idle.values()],
        key=lambda d: (-d.shortfall, -d.still_needed, d.vertical, d.language, d.geo),
    )
    return QueuePanel(
        open_requests=totals["open"],
        overdue=totals["overdue"],
        unclaimed=totals["unclaimed"],
        mine=totals["mine"],
        verticals=verticals,
    )
