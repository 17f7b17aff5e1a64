"""Lease periods: period ``n`` starts ``n`` calendar months after ``assigned_at``.

Always counted from ``assigned_at``, never from the previous renewal, so a day that a
short month lacks is clamped for that month only: a lease assigned Jan 31 renews Feb 28
(Feb 29 in a leap year), then Mar 31.

``renewal_settle`` is the one statement, with no database, of what a renewal run makes
of a lease once it knows how many of the periods owed were paid: ``leases_renew`` saves
what it sets, ``renewals_preview`` (a dry run) only counts it.
"""

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from layers_ops.dates import add_months

from .models import BillingStatus, DisconnectReason, LeaseStatus

if TYPE_CHECKING:
    from .models import Lease

RENEWED = "renewed"
PAST_DUE = "past_due"
DISCONNECTED = "disconnected"
UNPAID_AHEAD = "unpaid_ahead"


def period_start(assigned_at: datetime, period: int) -> datetime:
    return add_months(assigned_at, period)


def periods_due(assigned_at: datetime, at: datetime) -> int:
    """How many periods have started by ``at`` (period 0 starts at ``assigned_at``)."""
    if at < assigned_at:
        return 0
    months = (at.year - assigned_at.year) * 12 + at.month - assigned_at.month
    # ``months`` is exact or one too many: step back while that period has not started.
    while months > 0 and period_start(assigned_at, months) > at:
        months -= 1
    return months + 1


def owed_periods(lease: "Lease", at: datetime) -> range:
    """The periods a renewal as of ``at`` charges the lease for, in order."""
    return range(lease.periods_paid, periods_due(lease.assigned_at, at))


def renewal_settle(
    lease: "Lease", *, paid: int, at: datetime, now: datetime, grace: timedelta
) -> str:
    """Set the renewal fields of ``lease`` (in memory) for a run as of ``at``, made at real
    time ``now``, that charged the first ``paid`` of its owed periods; say which of
    ``RENEWED``, ``PAST_DUE``, ``DISCONNECTED`` or ``UNPAID_AHEAD`` it now is.

    Money may be charged ahead (a run as of a future ``at``), but falling past due and
    being disconnected go by the real clock, ``min(at, now)``: a lease is past due only
    once a period it has not paid has started, ``past_due_since`` and ``disconnected_at``
    are never later than now, and the grace period runs in real time. A lease that a
    future run could not pay ahead, but which is paid through now, stays current
    (``UNPAID_AHEAD``); the runs made when its next period starts retry it.
    """
    clock = min(at, now)
    owed = len(owed_periods(lease, at))
    lease.periods_paid += paid
    lease.next_renewal_at = period_start(lease.assigned_at, lease.periods_paid)
    if paid == owed or lease.next_renewal_at > clock:
        lease.billing_status = BillingStatus.CURRENT
        lease.past_due_since = None
        return RENEWED if paid == owed else UNPAID_AHEAD
    if lease.billing_status != BillingStatus.PAST_DUE or lease.past_due_since is None:
        lease.billing_status = BillingStatus.PAST_DUE
        lease.past_due_since = clock
    if clock < lease.past_due_since + grace:
        return PAST_DUE
    lease.status = LeaseStatus.DISCONNECTED
    lease.disconnected_at = clock
    lease.disconnected_reason = DisconnectReason.UNPAID
    lease.next_renewal_at = None
    return DISCONNECTED
