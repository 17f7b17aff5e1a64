"""Reads: for the partner API (always scoped to the caller's organization) and for
billing's view of leases."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import (
    Count,
    F,
    OuterRef,
    Prefetch,
    QuerySet,
    Sum,
    prefetch_related_objects,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import LEASE_CHARGE_KINDS, LedgerTransaction
from billing.reconciliation import Problem
from billing.selectors import wallet_balance_of
from billing.usage import LeaseUsage, RenewalDay
from layers_ops.api.exceptions import NotFound
from layers_ops.api.query import query_choice
from layers_ops.partners.models import Organization, Project

from .models import (
    BillingStatus,
    Lease,
    LeaseRequest,
    LeaseStatus,
    NoteVisibility,
    RequestNote,
    RequestStatus,
)
from .periods import DISCONNECTED, PAST_DUE, RENEWED, owed_periods, renewal_settle


def project_get(
    *, organization_id: str, project_id: str, with_wallet_balance: bool = False
) -> Project:
    """The caller's project; any other id is 404, never 403, so nothing leaks.

    ``with_wallet_balance`` reads the organization's wallet balance in the same query,
    as ``project.wallet_balance_cents``.
    """
    projects = Project.objects.all()
    if with_wallet_balance:
        projects = projects.annotate(
            wallet_balance_cents=wallet_balance_of(OuterRef("organization_id"))
        )
    try:
        return projects.get(organization_id=organization_id, pk=project_id)
    except Project.DoesNotExist:
        raise NotFound(f"No project {project_id!r} in your organization.") from None


def _partner_view_prefetches() -> list[Prefetch]:
    """What the request shape needs: partner-visible notes and assigned accounts."""
    return [
        Prefetch(
            "notes",
            queryset=RequestNote.objects.filter(visibility=NoteVisibility.PARTNER).order_by(
                "-created_at", "-pk"
            ),
            to_attr="partner_notes",
        ),
        Prefetch(
            "leases",
            queryset=Lease.objects.only("pk", "social_account_id", "lease_request_id").order_by(
                "pk"
            ),
            to_attr="lease_rows",
        ),
    ]


def _with_partner_view(queryset: QuerySet) -> QuerySet:
    return queryset.prefetch_related(*_partner_view_prefetches())


def lease_request_partner_view(*, lease_request: LeaseRequest) -> LeaseRequest:
    """``lease_request`` as a service left it (e.g. read under its lock), with what the
    request shape needs loaded, so the answer shows that row rather than a fresh read."""
    prefetch_related_objects([lease_request], *_partner_view_prefetches())
    return lease_request


def lease_request_get(
    *, organization_id: str, request_id: str, project_id: str | None = None
) -> LeaseRequest:
    queryset = LeaseRequest.objects.filter(organization_id=organization_id, public_id=request_id)
    if project_id is not None:
        queryset = queryset.filter(project_id=project_id)
    lease_request = _with_partner_view(queryset).first()
    if lease_request is None:
        raise NotFound(f"No lease request {request_id!r} here.")
    return lease_request


def _status_filter(raw: str | None, allowed, default=None):
    return query_choice("status", raw, allowed, default)


def lease_request_list(*, project: Project, status: str | None = None) -> QuerySet:
    queryset = LeaseRequest.objects.filter(project=project)
    status = _status_filter(status, RequestStatus.values)
    if status:
        queryset = queryset.filter(status=status)
    return _with_partner_view(queryset)


def lease_list(
    *, organization_id: str, project: Project | None = None, status: str | None = None
) -> QuerySet:
    status = _status_filter(status, LeaseStatus.values, default=LeaseStatus.ASSIGNED)
    queryset = Lease.objects.filter(project__organization_id=organization_id, status=status)
    if project is not None:
        queryset = queryset.filter(project=project)
    return queryset.select_related("social_account")


def lease_usage_by_organization(organization_ids) -> dict:
    """Billing's view of leases (see ``billing.usage``): per organization, the running
    leases, how many are past due, the monthly burn and the next renewals grouped by
    day. One query, however many organizations; its rows grow with the renewal days in
    a month, not with the leases."""
    rows = (
        Lease.objects.filter(
            project__organization_id__in=list(organization_ids), status=LeaseStatus.ASSIGNED
        )
        .annotate(renews_on=TruncDate("next_renewal_at", tzinfo=UTC))
        .order_by()
        .values_list("project__organization_id", "billing_status", "renews_on")
        .annotate(leases=Count("id"), amount_cents=Sum("monthly_price_cents"))
    )
    usage: dict[str, dict] = {}
    for organization_id, billing_status, renews_on, leases, amount_cents in rows:
        org = usage.setdefault(
            organization_id,
            {"active": 0, "past_due": 0, "past_due_cents": 0, "burn": 0, "days": {}},
        )
        org["active"] += leases
        org["burn"] += amount_cents
        if billing_status == BillingStatus.PAST_DUE:
            org["past_due"] += leases
            org["past_due_cents"] += amount_cents
        if renews_on is not None:
            count, amount = org["days"].get(renews_on, (0, 0))
            org["days"][renews_on] = (count + leases, amount + amount_cents)
    return {
        organization_id: LeaseUsage(
            active_leases=org["active"],
            past_due_leases=org["past_due"],
            monthly_burn_cents=org["burn"],
            past_due_cents=org["past_due_cents"],
            renewals=[
                RenewalDay(on=on, leases=count, amount_cents=amount)
                for on, (count, amount) in sorted(org["days"].items())
            ],
        )
        for organization_id, org in usage.items()
    }


LEASE_PERIODS_CHARGED = "active lease charged for its periods"


def leases_missing_charges() -> list[Problem]:
    """Billing's reconciliation check for leases (see ``billing.reconciliation``).

    A lease that is assigned and ``current`` claims, through ``periods_paid``, that
    periods 0 .. periods_paid - 1 were charged (its current period, periods_paid - 1,
    included). Each of those periods must have a charge or renewal transaction in the
    ledger; a refund (reversal) does not undo the charge for this check, it is a
    deliberate finance decision shown on the statement. Two queries, however many leases.
    """
    leases = list(
        Lease.objects.filter(status=LeaseStatus.ASSIGNED, billing_status=BillingStatus.CURRENT)
        .order_by("pk")
        .values_list("pk", "periods_paid", "social_account_id", "project__organization_id")
    )
    charged: dict[int, set[int]] = {}
    for lease_id, period in LedgerTransaction.objects.filter(
        kind__in=LEASE_CHARGE_KINDS, lease_id__in=[pk for pk, *_ in leases]
    ).values_list("lease_id", "period"):
        charged.setdefault(lease_id, set()).add(period)
    problems = []
    for pk, periods_paid, account_id, organization_id in leases:
        missing = sorted(set(range(periods_paid)) - charged.get(pk, set()))
        if not periods_paid:
            detail = "is active and current but no period is marked paid"
        elif missing:
            detail = f"period(s) {', '.join(map(str, missing))} marked paid but never charged"
        else:
            continue
        problems.append(
            Problem(LEASE_PERIODS_CHARGED, f"lease {pk} ({account_id}, {organization_id})", detail)
        )
    return problems


def lease_for_release(*, organization_id: str, social_account_id: str) -> Lease:
    """The caller's lease of an account: the running one, else the latest ended one.
    An account never leased to the organization is 404, whoever holds it now."""
    lease = (
        Lease.objects.filter(
            project__organization_id=organization_id, social_account_id=social_account_id
        )
        .order_by("status", "-assigned_at", "-pk")  # "assigned" sorts before "disconnected"
        .first()
    )
    if lease is None:
        raise NotFound(f"No account {social_account_id!r} is leased to your organization.")
    return lease


@dataclass
class OrganizationRenewals:
    """What a renewal run would do to one organization's leases and wallet."""

    organization_id: str
    name: str
    wallet_cents: int  # the balance before the run
    renewed: int = 0
    past_due: int = 0
    disconnected: int = 0
    unpaid_ahead: int = 0
    periods_charged: int = 0
    charged_cents: int = 0


@dataclass(frozen=True)
class RenewalPreview:
    at: datetime
    organizations: list[OrganizationRenewals]  # those with a lease due, by name

    def total(self, field: str) -> int:
        return sum(getattr(row, field) for row in self.organizations)


def renewals_preview(*, at: datetime, now: datetime | None = None) -> RenewalPreview:
    """What ``leases_renew(at=at)`` would renew, charge, leave past due and disconnect,
    per organization, computed without writing or locking anything.

    It follows the run's rules: the leases due at ``at`` are walked oldest first per
    organization; each wallet pays each lease's owed periods in order while its balance
    covers the lease's price (``lease_charges_post`` without ``all_or_nothing``); the
    outcome is ``periods.renewal_settle``'s, applied to the leases in memory. It trusts
    ``periods_paid`` for what is already charged (a renewal batch writes both in one
    transaction). A run made later can differ by what changed in between: top-ups,
    allocations, releases, or another run.
    """
    now = now or timezone.now()
    grace = timedelta(days=settings.RENEWAL_GRACE_DAYS)
    due = Lease.objects.filter(status=LeaseStatus.ASSIGNED, next_renewal_at__lte=at)

    def organizations_of(queryset) -> dict[str, OrganizationRenewals]:
        return {
            organization.pk: OrganizationRenewals(
                organization_id=organization.pk,
                name=organization.name,
                wallet_cents=organization.wallet_cents,
            )
            for organization in queryset.annotate(wallet_cents=wallet_balance_of(OuterRef("pk")))
        }

    organizations = organizations_of(
        Organization.objects.filter(pk__in=due.values("project__organization_id"))
    )
    balances = {pk: row.wallet_cents for pk, row in organizations.items()}
    leases = (
        due.annotate(organization_id=F("project__organization_id"))
        .only(
            "assigned_at",
            "periods_paid",
            "monthly_price_cents",
            "billing_status",
            "past_due_since",
            "next_renewal_at",
        )
        .order_by("project__organization_id", "assigned_at", "pk")
    )
    for lease in leases.iterator(chunk_size=2000):
        if lease.organization_id not in organizations:  # its first lease fell due meanwhile
            organizations |= organizations_of(Organization.objects.filter(pk=lease.organization_id))
            balances[lease.organization_id] = organizations[lease.organization_id].wallet_cents
        row = organizations[lease.organization_id]
        price = lease.monthly_price_cents
        paid = min(len(owed_periods(lease, at)), balances[row.organization_id] // price)
        balances[row.organization_id] -= paid * price
        row.periods_charged += paid
        row.charged_cents += paid * price
        outcome = renewal_settle(lease, paid=paid, at=at, now=now, grace=grace)
        if outcome == RENEWED:
            row.renewed += 1
        elif outcome == PAST_DUE:
            row.past_due += 1
        elif outcome == DISCONNECTED:
            row.disconnected += 1
        else:
            row.unpaid_ahead += 1
    return RenewalPreview(
        at=at, organizations=sorted(organizations.values(), key=lambda row: row.name)
    )
