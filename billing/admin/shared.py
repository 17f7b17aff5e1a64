"""What every finance page shares: the move-money permission, the read-only admin base
for history, and the CSV cells (times in UTC and Pacific, cents and dollars)."""

import datetime

from django.contrib import admin

from layers_ops.admin_display import ReadOnlyMixin

from ..money import dollars_number
from ..selectors import (
    FINANCE_TZ,
)

MOVE_MONEY = "billing.move_money"


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """History must not change: no add, change or delete, whoever asks."""


def csv_times(moment) -> list[str]:
    """An instant as CSV exports write it: UTC, then the same instant in Los Angeles."""
    return [
        moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.astimezone(FINANCE_TZ).strftime("%Y-%m-%d %H:%M:%S"),
    ]


def csv_money(cents: int) -> list:
    """An amount as CSV exports write it: cents, then dollars (both numbers)."""
    return [cents, dollars_number(cents)]
