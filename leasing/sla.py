"""The queue's service-level clock: 48 hours of business-day time in San Francisco.

The clock runs Monday to Friday, all day, in America/Los_Angeles and stops on weekends
and US federal holidays (observed dates included, as federal offices observe them). So a
request submitted Friday 15:00 PT is due Tuesday 15:00 PT, and one submitted on a
Saturday starts its clock Monday 00:00 PT and is due Wednesday 00:00 PT.

Days are walked in local wall time and each boundary is made aware in the zone, so a
daylight-saving change (always on a Sunday in the US, when the clock is stopped anyway)
never shifts a due time by an hour.
"""

import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

SLA_ZONE = ZoneInfo("America/Los_Angeles")
SLA_HOURS = 48


@lru_cache(maxsize=64)
def _federal_holidays(year: int) -> frozenset[datetime.date]:
    return frozenset(holidays.US(years=year))


def is_business_day(day: datetime.date) -> bool:
    return day.weekday() < 5 and day not in _federal_holidays(day.year)


def _local_midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=SLA_ZONE)


def _elapsed(start: datetime.datetime, end: datetime.datetime) -> datetime.timedelta:
    """Real time between two aware instants (UTC arithmetic, so DST-safe)."""
    return end.astimezone(datetime.UTC) - start.astimezone(datetime.UTC)


def sla_due_at(submitted_at: datetime.datetime, hours: int = SLA_HOURS) -> datetime.datetime:
    """When a request submitted at ``submitted_at`` (aware) is due, as an aware instant in
    America/Los_Angeles."""
    if submitted_at.tzinfo is None:
        raise ValueError("submitted_at must be timezone-aware")
    remaining = datetime.timedelta(hours=hours)
    cursor = submitted_at.astimezone(SLA_ZONE)
    day = cursor.date()
    for _ in range(3660):  # ten years of days: far beyond any SLA, never an endless loop
        next_midnight = _local_midnight(day + datetime.timedelta(days=1))
        if is_business_day(day):
            available = _elapsed(cursor, next_midnight)
            if remaining <= available:
                return (cursor.astimezone(datetime.UTC) + remaining).astimezone(SLA_ZONE)
            remaining -= available
        day += datetime.timedelta(days=1)
        cursor = next_midnight
    raise ValueError("no business time found within ten years")  # pragma: no cover


def business_time_between(start: datetime.datetime, end: datetime.datetime) -> datetime.timedelta:
    """Business-day time elapsed from ``start`` to ``end`` (zero if end is not later)."""
    total = datetime.timedelta(0)
    cursor = start.astimezone(SLA_ZONE)
    end = end.astimezone(SLA_ZONE)
    while cursor < end:
        next_midnight = _local_midnight(cursor.date() + datetime.timedelta(days=1))
        stop = min(next_midnight, end)
        if is_business_day(cursor.date()):
            total += _elapsed(cursor, stop)
        cursor = stop
    return total
