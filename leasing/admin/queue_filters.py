"""The queue's side filters: status, overdue, claim, vertical and language."""

from django.contrib import admin
from django.contrib.admin.views.main import SEARCH_VAR
from django.db.models import Q
from django.utils import timezone

from ..models import (
    LeaseRequest,
    RequestStatus,
)
from ..validators import vertical_key


class QueueStatusFilter(admin.SimpleListFilter):
    """The queue opens on what still needs work (open requests); a search, or *All*,
    looks at every status. A status chosen with a search narrows it."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.searching = bool(request.GET.get(SEARCH_VAR, "").strip())

    def effective(self) -> str:
        """The status shown: the one chosen, else all when searching, else open."""
        if self.value() in {self.ALL, *RequestStatus.values}:
            return self.value()
        return self.ALL if self.searching else RequestStatus.REQUESTED

    def lookups(self, request, model_admin):
        return [(self.ALL, "All"), *RequestStatus.choices]

    def choices(self, changelist):
        shown = self.effective()
        for value, label in self.lookup_choices:
            yield {
                "selected": shown == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        shown = self.effective()
        return queryset if shown == self.ALL else queryset.filter(status=shown)


class OverdueFilter(admin.SimpleListFilter):
    """Past the SLA due time and still open: read from the stored ``sla_due_at``."""

    title = "SLA"
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [("overdue", "Overdue"), ("due24", "Due within 24 h"), ("ok", "Not overdue")]

    def queryset(self, request, queryset):
        now = timezone.now()
        open_only = queryset.filter(status=RequestStatus.REQUESTED)
        if self.value() == "overdue":
            return open_only.filter(sla_due_at__lt=now)
        if self.value() == "due24":
            return open_only.filter(
                sla_due_at__gte=now, sla_due_at__lt=now + timezone.timedelta(hours=24)
            )
        if self.value() == "ok":
            return queryset.exclude(Q(status=RequestStatus.REQUESTED) & Q(sla_due_at__lt=now))
        return queryset


class ClaimFilter(admin.SimpleListFilter):
    title = "claimed by"
    parameter_name = "claim"

    def lookups(self, request, model_admin):
        return [("mine", "Me"), ("unclaimed", "Nobody (unclaimed)"), ("others", "Someone else")]

    def queryset(self, request, queryset):
        if self.value() == "mine":
            return queryset.filter(claimed_by=request.user)
        if self.value() == "unclaimed":
            return queryset.filter(claimed_by__isnull=True)
        if self.value() == "others":
            return queryset.filter(claimed_by__isnull=False).exclude(claimed_by=request.user)
        return queryset


class LanguageFilter(admin.AllValuesFieldListFilter):
    title = "language"


class VerticalFilter(admin.SimpleListFilter):
    """One entry per vertical however partners spelled it (``vertical_key``); a link
    naming a vertical in any spelling (``?vertical=Fintech``) finds all of them."""

    title = "vertical"
    parameter_name = "vertical"

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        if self.value() is not None:
            self.used_parameters[self.parameter_name] = vertical_key(self.value())

    def lookups(self, request, model_admin):
        keys = (
            LeaseRequest.objects.order_by("vertical_key")
            .values_list("vertical_key", flat=True)
            .distinct()
        )
        return [(key, key) for key in keys]

    def queryset(self, request, queryset):
        if self.value() is None:
            return queryset
        return queryset.filter(vertical_key=self.value())
