"""Lease periods: period ``n`` starts ``n`` calendar months after ``assigned_at``.

Always counted from ``assigned_at``, never from the previous renewal, so a day that a
short month lacks is clamped for that month only: a lease assigned Jan 31 renews Feb 28
(Feb 29 in a leap year), then Mar 31.
"""

from datetime import datetime

from layers_ops.dates import add_months


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
