"""The ops queue and the leases as Prometheus gauges, computed at every scrape.

Registered by ``LeasingConfig.ready``; a fixed number of aggregate queries (the queue
panel's five, one over leases, one for the last renewal run) however many requests,
accounts or leases there are.
"""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from layers_ops.ops.metrics import gauge
from layers_ops.partners.models import KeyEnvironment

from .models import BillingStatus, Lease, LeaseStatus, RenewalRun
from .queue_panel import queue_panel

# A lease not renewed this long after its renewal fell due means renewals are not running
# (they run every 15 minutes); past-due leases are retried and counted apart.
RENEWAL_LATE = timedelta(hours=1)


def collect():
    now = timezone.now()
    panel = queue_panel(now=now)
    yield gauge(
        "layers_lease_requests_open", "Lease requests waiting for ops.", panel.open_requests
    )
    yield gauge(
        "layers_lease_requests_overdue",
        "Open lease requests past their 48 business-hour SLA.",
        panel.overdue,
    )
    yield gauge(
        "layers_lease_requests_unclaimed",
        "Open lease requests no ops person has claimed.",
        panel.unclaimed,
    )
    by_vertical: dict[str, dict[str, int]] = {}
    for niche in panel.verticals:
        row = by_vertical.setdefault(niche.vertical, {"ready": 0, "needed": 0, "short": 0})
        row["ready"] = max(row["ready"], niche.in_vertical)  # the same pools for every niche
        row["needed"] += max(niche.still_needed, 0)
        row["short"] += niche.shortfall
    verticals = sorted(by_vertical.items())
    yield gauge(
        "layers_supply_ready_accounts",
        "Ready warmed accounts in pools tagged with the vertical.",
        labels=["vertical"],
        samples=[((v,), row["ready"]) for v, row in verticals],
    )
    yield gauge(
        "layers_demand_accounts_needed",
        "Accounts open requests of the vertical still need.",
        labels=["vertical"],
        samples=[((v,), row["needed"]) for v, row in verticals],
    )
    yield gauge(
        "layers_supply_shortfall_accounts",
        "Accounts open requests need beyond the ready ones that fit their language and geos.",
        labels=["vertical"],
        samples=[((v,), row["short"]) for v, row in verticals],
    )
    live = Q(project__organization__environment=KeyEnvironment.LIVE)  # test mode is not ops'
    leases = Lease.objects.filter(live, status=LeaseStatus.ASSIGNED).aggregate(
        active=Count("pk"),
        past_due=Count("pk", filter=Q(billing_status=BillingStatus.PAST_DUE)),
        late=Count(
            "pk",
            filter=Q(billing_status=BillingStatus.CURRENT, next_renewal_at__lt=now - RENEWAL_LATE),
        ),
    )
    yield gauge("layers_leases_active", "Leases assigned to partners.", leases["active"])
    yield gauge(
        "layers_leases_past_due",
        "Assigned leases whose renewal could not be charged (in grace).",
        leases["past_due"],
    )
    last_run = RenewalRun.objects.order_by("-finished_at").values_list("finished_at", flat=True)
    last_finished = last_run.first()
    yield gauge(
        "layers_renewals_last_run_age_seconds",
        "Seconds since the last renewal run finished (they run every 15 minutes); "
        "absent before the first run.",
        samples=[((), (now - last_finished).total_seconds())] if last_finished else [],
    )
    yield gauge(
        "layers_leases_renewal_late",
        "Current leases whose renewal fell due over an hour ago and did not run.",
        leases["late"],
    )
