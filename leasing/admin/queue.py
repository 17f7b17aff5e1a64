"""The ops queue: lease requests, their notes, and the leases they produced."""

from django.contrib import admin
from django.utils import timezone
from django.utils.timesince import timesince

from ..models import Lease, LeaseRequest, RequestNote, RequestStatus
from ..services import request_note_add


class RequestNoteInline(admin.TabularInline):
    """Notes are added, never edited: a correction is a new note."""

    model = RequestNote
    fields = ["body", "visibility", "author", "created_at"]
    readonly_fields = ["author", "created_at"]
    extra = 1

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class QueueStatusFilter(admin.SimpleListFilter):
    """The queue opens on what still needs work: requests not yet closed."""

    title = "status"
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [(self.ALL, "All"), *RequestStatus.choices]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            selected = self.value() == value or (self.value() is None and value == "requested")
            yield {
                "selected": selected,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        value = self.value() or RequestStatus.REQUESTED
        return queryset if value == self.ALL else queryset.filter(status=value)


@admin.register(LeaseRequest)
class LeaseRequestAdmin(admin.ModelAdmin):
    list_display = [
        "public_id",
        "organization",
        "project_name",
        "count",
        "vertical",
        "language",
        "geo_list",
        "status",
        "submitted_at",
        "age",
    ]
    list_select_related = ["organization", "project"]
    list_filter = [QueueStatusFilter, "vertical", "organization"]
    search_fields = ["public_id", "organization__name", "project__id", "vertical", "target"]
    ordering = ["submitted_at"]
    inlines = [RequestNoteInline]
    readonly_fields = [
        "public_id",
        "organization",
        "project",
        "api_key",
        "count",
        "vertical",
        "audience",
        "language",
        "geo",
        "target",
        "partner_note",
        "status",
        "submitted_at",
        "assigned_at",
        "closed_at",
    ]
    fields = readonly_fields

    def has_add_permission(self, request):
        return False  # requests come from partners through the API

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="project", ordering="project__name")
    def project_name(self, obj):
        return obj.project.name

    @admin.display(description="geo")
    def geo_list(self, obj):
        return " ".join(obj.geo) or "—"

    @admin.display(description="age")
    def age(self, obj):
        if obj.status != RequestStatus.REQUESTED:
            return "—"
        return timesince(obj.submitted_at, timezone.now())

    def save_formset(self, request, form, formset, change):
        # Notes go through the service (author and time recorded, never edited).
        formset.new_objects = [
            request_note_add(
                lease_request=form.instance,
                body=note_form.cleaned_data["body"],
                visibility=note_form.cleaned_data["visibility"],
                author=request.user,
            )
            for note_form in formset.forms
            if note_form.has_changed() and not note_form.instance.pk
        ]
        formset.changed_objects, formset.deleted_objects = [], []


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    list_display = [
        "social_account",
        "project",
        "status",
        "billing_status",
        "monthly_price_cents",
        "assigned_at",
        "next_renewal_at",
        "disconnected_at",
    ]
    list_select_related = ["social_account", "project"]
    list_filter = ["status", "billing_status"]
    search_fields = ["social_account__handle", "social_account__id", "project__id"]

    def has_add_permission(self, request):
        return False  # leases are made by allocating a request

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
