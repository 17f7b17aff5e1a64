"""Monthly renewals (``leases_renew``, ``renewal_time_check``).

A lease's period n starts n calendar months after its assigned_at (leasing.periods) and
costs the lease's own monthly_price_cents. Renewal runs (``renew_leases``, from cron)
charge each due lease for every period it owes, at most once per (lease, period).

Locks, per batch: an advisory lock per organization (only renewals take these), the
leases, the ledger accounts (inside billing), then the accounts of leases ended unpaid.
Those accounts are leased, and nothing that locks a leased account goes on to wait for
the ledger (allocation and account moves refuse a leased account right after locking
it), so taking them last cannot deadlock.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.services.charges import LeaseCharge, lease_charges_post
from billing.services.postings import SYSTEM_ACTOR
from layers_ops.webhooks.models import EventType

from ..events import leases_changed_emit
from ..models import (
    AccountEvent,
    AccountState,
    BillingStatus,
    Lease,
    LeaseStatus,
    RenewalRun,
    RenewalTrigger,
    SocialAccount,
)
from ..periods import (
    DISCONNECTED,
    PAST_DUE,
    RENEWED,
    owed_periods,
    renewal_settle,
)
from .errors import LeasingError

# How far ahead of now a run may be set: a little, for a clock or a cron a few minutes
# off; more only when asked for (``allow_future``); never more than a year, which is
# already twelve months charged in advance for every lease.
RENEWAL_AHEAD_SLACK = timedelta(days=1)
RENEWAL_AHEAD_MAX = timedelta(days=365)


class RenewalRefused(LeasingError):
    """A renewal run as of a time it must not use; nothing was renewed."""


def renewal_time_check(*, at: datetime, now: datetime, allow_future: bool) -> None:
    """Refuse a run as of more than ``RENEWAL_AHEAD_SLACK`` after ``now`` unless
    ``allow_future``, and as of more than ``RENEWAL_AHEAD_MAX`` after it in any case."""
    stamp = f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    if at > now + RENEWAL_AHEAD_MAX:
        raise RenewalRefused(
            f"{stamp} is more than {RENEWAL_AHEAD_MAX.days} days ahead: renewals never "
            "charge that far in advance."
        )
    if at > now + RENEWAL_AHEAD_SLACK and not allow_future:
        raise RenewalRefused(
            f"{stamp} is {(at - now).days} day(s) ahead: a run as of then charges months "
            "that have not started."
        )


@dataclass
class RenewalSummary:
    """What one renewal run did, counted in leases (and periods and cents charged)."""

    at: datetime
    renewed: int = 0  # brought current: every period owed was charged
    past_due: int = 0  # left past due, retried on the next runs through the grace period
    disconnected: int = 0  # still unpaid after the grace period: ended, account to cooldown
    unpaid_ahead: int = 0  # a run ahead of now only: paid through now, not through ``at``
    periods_charged: int = 0
    charged_cents: int = 0
    leases_claimed: int = 0
    batches: int = 0


def leases_renew(
    *,
    at: datetime | None = None,
    batch_size: int = 1000,
    progress: Callable[[RenewalSummary], None] | None = None,
    allow_future: bool = False,
    trigger: str = RenewalTrigger.COMMAND,
) -> RenewalSummary:
    """Charge every lease due at ``at`` (default: now) for each period it owes.

    The due leases (assigned, ``next_renewal_at <= at``) are walked in (organization,
    assigned_at, pk) order in batches of up to ``batch_size``. Each batch is one
    transaction of a fixed number of statements, however many leases it holds: claim
    the leases (``FOR UPDATE SKIP LOCKED``; the ledger's unique (lease, period) key backs
    that up), charge them, oldest lease first per wallet and each lease's owed periods
    in order, then save:

    * every owed period paid: ``periods_paid`` and ``next_renewal_at`` advance, billing
      ``current`` again;
    * not all of them: ``past_due`` (since ``at``, unless already past due), retried by
      every run;
    * still unpaid ``RENEWAL_GRACE_DAYS`` after falling past due: ``disconnected``
      (reason ``unpaid``, at ``at``) and its account moves to ``cooldown``, logged as the
      system.

    ``at`` more than a day ahead of now is refused (``RenewalRefused``) unless
    ``allow_future``, and more than a year ahead always. A run ahead of now charges in
    advance, but past due, grace and disconnection go by the real time
    (``periods.renewal_settle``): no ``past_due_since`` or ``disconnected_at`` is ever
    later than now, and a lease paid through now stays current.

    A wallet short of all its leases pays its oldest leases first, across batches (one
    organization's leases follow each other in the walk) and across concurrent runs: on
    PostgreSQL a batch first takes a transaction-scoped advisory lock per organization,
    skipping organizations another run holds (that run, which walks them in order, or
    the next run renews them). ``progress(summary)`` is called after each batch.

    A run that finishes is recorded (``RenewalRun``, with ``trigger``): that record is
    how the admin home and ``/metrics`` know renewals are running.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    now = timezone.now()
    at = at or now
    renewal_time_check(at=at, now=now, allow_future=allow_future)
    summary = RenewalSummary(at=at)
    after = None
    while True:
        claimed, after, more = _renewal_batch(
            at=summary.at, after=after, batch_size=batch_size, summary=summary
        )
        if claimed:
            summary.batches += 1
            summary.leases_claimed += claimed
            if progress is not None:
                progress(summary)
        if not more:
            RenewalRun.objects.create(
                trigger=trigger,
                at=summary.at,
                started_at=now,
                finished_at=max(timezone.now(), now),
                renewed=summary.renewed,
                past_due=summary.past_due,
                disconnected=summary.disconnected,
                periods_charged=summary.periods_charged,
                charged_cents=summary.charged_cents,
            )
            return summary


def _due(*, at: datetime, after: tuple | None):
    """Leases due at ``at`` after the keyset ``after``: (organization, assigned_at, pk),
    or (organization, None, None) for "past that whole organization"."""
    queryset = Lease.objects.filter(status=LeaseStatus.ASSIGNED, next_renewal_at__lte=at)
    if after is not None:
        organization_id, assigned_at, pk = after
        later = Q(project__organization_id__gt=organization_id)
        if assigned_at is not None:
            later |= Q(project__organization_id=organization_id, assigned_at__gt=assigned_at) | Q(
                project__organization_id=organization_id, assigned_at=assigned_at, pk__gt=pk
            )
        queryset = queryset.filter(later)
    return queryset.order_by("project__organization_id", "assigned_at", "pk")


def _organizations_claim(organization_ids: list[str]) -> set[str]:
    """The organizations this run may renew now: a transaction-scoped advisory lock per
    organization, skipping those another run holds (as SKIP LOCKED does for rows), so one
    run at a time pays an organization's leases, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT org FROM unnest(%s::text[]) AS org WHERE "
            "pg_try_advisory_xact_lock(hashtextextended('leasing.renewals:' || org, 0))",
            [organization_ids],
        )
        return {row[0] for row in cursor.fetchall()}


@transaction.atomic
def _renewal_batch(
    *, at: datetime, after: tuple | None, batch_size: int, summary: RenewalSummary
) -> tuple[int, tuple | None, bool]:
    """One batch: returns (leases claimed, the keyset to continue after, more to come)."""
    ahead = list(
        _due(at=at, after=after).values_list("project__organization_id", flat=True)[:batch_size]
    )
    if not ahead:
        return 0, after, False
    more = len(ahead) == batch_size
    candidates = list(dict.fromkeys(ahead))
    held = _organizations_claim(candidates)
    if not held:  # another run is renewing all of them: go past them
        return 0, (candidates[-1], None, None), more
    leases = list(
        _due(at=at, after=after)
        .filter(project__organization_id__in=held)
        .select_for_update(skip_locked=True, of=("self",))
        .annotate(
            organization_id=F("project__organization_id"), handle=F("social_account__handle")
        )[:batch_size]
    )
    if not leases:
        return 0, (candidates[-1], None, None), more
    charges = [
        LeaseCharge(
            organization_id=lease.organization_id,
            lease_id=lease.pk,
            period=period,
            amount_cents=lease.monthly_price_cents,
            memo=f"Renewal @{lease.handle}, month {period + 1}",
            reference=lease.social_account_id,
        )
        for lease in leases
        for period in owed_periods(lease, at)
    ]
    outcome = lease_charges_post(charges=charges, actor=None, all_or_nothing=False)
    _renewals_save(
        leases, settled=set(outcome.posted) | set(outcome.already_charged), at=at, summary=summary
    )
    summary.periods_charged += len(outcome.posted)
    summary.charged_cents += sum(
        c.amount_cents for c in charges if (c.lease_id, c.period) in outcome.posted
    )
    if len(leases) < batch_size:
        # Every due lease of the organizations held is done: go past all the candidates,
        # including any skipped because another run holds them.
        return len(leases), (candidates[-1], None, None), more
    last = leases[-1]
    return len(leases), (last.organization_id, last.assigned_at, last.pk), more


RENEWAL_FIELDS = [
    "periods_paid",
    "next_renewal_at",
    "billing_status",
    "past_due_since",
    "status",
    "disconnected_at",
    "disconnected_reason",
]


def _renewals_save(
    leases: list[Lease], *, settled: set[tuple[int, int]], at: datetime, summary: RenewalSummary
) -> None:
    """Advance each lease by the periods now charged, in order; mark the rest past due and
    end those past their grace period (``periods.renewal_settle``). Called in the batch's
    transaction."""
    grace = timedelta(days=settings.RENEWAL_GRACE_DAYS)
    now = timezone.now()
    ended, fell_past_due = [], []
    for lease in leases:
        was_current = lease.billing_status == BillingStatus.CURRENT
        paid = 0
        for period in owed_periods(lease, at):
            if (lease.pk, period) not in settled:
                break
            paid += 1
        outcome = renewal_settle(lease, paid=paid, at=at, now=now, grace=grace)
        if outcome == RENEWED:
            summary.renewed += 1
        elif outcome == PAST_DUE:
            summary.past_due += 1
            if was_current:
                fell_past_due.append(lease.pk)
        elif outcome == DISCONNECTED:
            ended.append(lease)
            summary.disconnected += 1
        else:
            summary.unpaid_ahead += 1
    _leases_write(leases)
    if ended:
        _accounts_cool_down(ended, at=min(at, now), grace_days=settings.RENEWAL_GRACE_DAYS)
    leases_changed_emit(fell_past_due, type=EventType.LEASE_PAST_DUE)
    leases_changed_emit([lease.pk for lease in ended], type=EventType.LEASE_DISCONNECTED)


_PG_ARRAY_TYPES = {
    "BigAutoField": "bigint",
    "PositiveIntegerField": "integer",
    "DateTimeField": "timestamptz",
    "CharField": "text",
}


def _leases_write(leases: list[Lease]) -> None:
    """Save the renewal fields of a batch in one ``UPDATE ... FROM unnest(...)``: Django's
    ``bulk_update`` builds a CASE per row and field, about two seconds of Python per
    1,000 leases."""
    fields = [Lease._meta.pk, *(Lease._meta.get_field(name) for name in RENEWAL_FIELDS)]
    columns = [connection.ops.quote_name(field.column) for field in fields]
    arrays = ", ".join(f"%s::{_PG_ARRAY_TYPES[field.get_internal_type()]}[]" for field in fields)
    table = connection.ops.quote_name(Lease._meta.db_table)
    assignments = ", ".join(f"{column} = v.{column}" for column in columns[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({', '.join(columns)}) "
            f"WHERE {table}.{columns[0]} = v.{columns[0]}",
            [[getattr(lease, field.attname) for lease in leases] for field in fields],
        )


def _accounts_cool_down(leases: list[Lease], *, at: datetime, grace_days: int) -> None:
    """The accounts of leases ended unpaid go to cooldown for ops, logged as the system."""
    leased = list(
        SocialAccount.objects.select_for_update(of=("self",))
        .filter(pk__in=[lease.social_account_id for lease in leases], state=AccountState.LEASED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not leased:
        return
    SocialAccount.objects.filter(pk__in=leased).update(
        state=AccountState.COOLDOWN, state_changed_at=at
    )
    reason = f"Lease unpaid {grace_days} day(s) after its renewal failed"
    AccountEvent.objects.bulk_create(
        AccountEvent(
            account_id=pk,
            from_state=AccountState.LEASED,
            to_state=AccountState.COOLDOWN,
            actor=None,
            actor_label=SYSTEM_ACTOR,
            reason=reason,
        )
        for pk in leased
    )
