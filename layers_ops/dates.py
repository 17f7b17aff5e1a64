"""Calendar arithmetic shared by leasing (lease periods) and billing (runway), and the
range of dates the admin accepts when staff type one."""

import calendar
from datetime import date, datetime


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole calendar months; a day the target month lacks is clamped
    (Jan 31 + 1 month = Feb 28, or 29 in a leap year)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# The dates staff may type into admin filters and date drill-downs. Wide enough for any
# real ledger or lease, and far enough from year 1 and year 9999 that "the day after" and
# a time-zone shift always stay within what Python and PostgreSQL can hold.
FIRST_TYPED_DATE = date(2000, 1, 1)
LAST_TYPED_DATE = date(2099, 12, 31)
