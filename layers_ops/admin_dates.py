"""Date drill-downs (a ModelAdmin's ``date_hierarchy``) that answer every date typed.

Django reads ``<field>__year``, ``__month`` and ``__day`` itself: at year 9999 it
overflows working out the following year (a 500), and a year that is not a number
(``year=abc``) sends the page to the whole list (``?e=1``) without a word. An admin
that mixes in ``CheckedDateHierarchy`` checks the drill-down first, against the dates
staff may type (``layers_ops.dates``): outside them, or not a date at all, the page
lists nothing (actions act on nothing), an error message says why, and the dates above
the list offer the ones there are.
"""

from datetime import date

from django.contrib import messages
from django.contrib.admin.views.main import ChangeList

from .dates import FIRST_TYPED_DATE, LAST_TYPED_DATE

UNITS = ("year", "month", "day")


def _shown(raw: str) -> str:
    return raw if len(raw) <= 12 else raw[:11] + "…"


def date_drill_down_problem(params: dict, field: str) -> str | None:
    """What is wrong with the drill-down on ``field`` in ``params`` (query string values),
    for a person; None when there is none or it is a date within reach."""
    given = {unit: params[f"{field}__{unit}"] for unit in UNITS if f"{field}__{unit}" in params}
    if not given:
        return None
    for unit, raw in given.items():
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 4):
            return f"“{_shown(raw)}” is not a {unit}."
    if "year" not in given:
        return "A month or day needs a year."
    year, month, day = (int(given.get(unit, 1)) for unit in UNITS)
    try:
        first_day = date(year, month, day)
    except ValueError:
        return f"{year}-{month:02d}-{day:02d} is not a date."
    if not FIRST_TYPED_DATE.year <= first_day.year <= LAST_TYPED_DATE.year:
        return (
            f"Year {year} is outside the years this list covers "
            f"({FIRST_TYPED_DATE.year} to {LAST_TYPED_DATE.year})."
        )
    return None


class CheckedDateChangeList(ChangeList):
    """A change list whose date drill-down out of reach lists nothing and says why."""

    date_problem: str | None = None

    def __init__(self, request, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        if self.date_problem:
            messages.error(
                request,
                f"{self.date_problem} Nothing is listed; choose one of the dates above the list.",
            )

    def get_filters(self, request):
        field = self.date_hierarchy
        problem = date_drill_down_problem(self.params, field) if field else None
        if problem:
            self.date_problem = problem
            for unit in UNITS:  # neither Django's parsing nor the date bar may read them
                self.params.pop(f"{field}__{unit}", None)
                self.filter_params.pop(f"{field}__{unit}", None)
        return super().get_filters(request)

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.none() if self.date_problem else queryset  # actions included

    def get_results(self, request):
        super().get_results(request)
        if self.date_problem:  # the dates above the empty list are the ones there are
            self.queryset = super().get_queryset(request)


class CheckedDateHierarchy:
    """Mix into a ModelAdmin with a ``date_hierarchy`` (before ``admin.ModelAdmin``)."""

    def get_changelist(self, request, **kwargs):
        return CheckedDateChangeList
