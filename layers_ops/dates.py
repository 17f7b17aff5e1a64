"""Calendar arithmetic shared by leasing (lease periods) and billing (runway)."""

import calendar
from datetime import datetime


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus whole calendar months; a day the target month lacks is clamped
    (Jan 31 + 1 month = Feb 28, or 29 in a leap year)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)
