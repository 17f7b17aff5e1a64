"""The ops queue: ``LeaseRequestAdmin``, its list, its request page and the way through it.

The changelist is the queue (open requests oldest first, with SLA and claim, and how
many arrived since it was loaded); each request has buttons to claim it (``claims``),
allocate accounts (``allocate``: ranked by fit, poor fits marked) and close it as partial
or rejected (``close``: an intermediate form), then go on to the next request in the same
queue filters (carried as Django's ``_changelist_filters``). Every change goes through one
service in ``leasing.services``; these views only parse, call and report.
"""

import copy
import re

from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import (
    Http404,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join

from layers_ops.admin_display import (
    NothingChangedMixin,
    RowLinksChangeList,
    local_time,
    row_url,
    short_id,
)
from layers_ops.partners.admin_filters import TestDataFilter
from layers_ops.staff.once import OnceRefused

from ..models import (
    Lease,
    LeaseRequest,
    RequestStatus,
)
from ..validators import list_display_text
from .allocate import AllocatePageMixin
from .claims import ClaimPagesMixin
from .close import ClosePageMixin
from .notes import RequestNoteInline, RequestNotesMixin
from .queue_filters import (
    ClaimFilter,
    LanguageFilter,
    OverdueFilter,
    QueueStatusFilter,
    VerticalFilter,
)

_AT = re.compile(r"""(^|[\s"'])@+""")  # a leading @ on a search term


def _short_duration(delta) -> str:
    """2d 4h, 5h 12m, 8m: enough to compare ages at a glance."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


@admin.register(LeaseRequest)
class LeaseRequestAdmin(
    ClaimPagesMixin,
    AllocatePageMixin,
    ClosePageMixin,
    RequestNotesMixin,
    NothingChangedMixin,
    admin.ModelAdmin,
):
    list_display = [
        "request_id",
        "partner",
        "niche",
        "assigned",
        "age",
        "sla_due",
        "claimed",
    ]
    list_display_links = None  # the request column links itself (beside its copy button)
    list_select_related = ["organization", "project", "claimed_by"]
    list_filter = [
        QueueStatusFilter,
        OverdueFilter,
        ClaimFilter,
        VerticalFilter,
        ("language", LanguageFilter),
        TestDataFilter,
    ]
    search_fields = [
        "public_id",
        "organization__name",
        "project__name",
        "project__id",
        "leases__social_account__handle",
    ]
    search_help_text = (
        "Request id, partner, project, or the handle of an assigned account (@handle or "
        "handle), in every status unless you pick one."
    )
    ordering = ["submitted_at", "pk"]
    list_per_page = 50
    show_full_result_count = False
    actions = ["claim_selected", "take_over_selected", "unclaim_selected"]
    inlines = [RequestNoteInline]
    readonly_fields = [
        "public_id",
        "organization",
        "project",
        "api_key",
        "status",
        "count",
        "vertical",
        "audience",
        "language",
        "geo_list",
        "target",
        "partner_note",
        "submitted_at",
        "sla_due_at",
        "assigned_at",
        "claimed_by",
        "claimed_at",
        "closed_at",
        "closed_by",
        "assigned_accounts",
    ]
    fieldsets = [
        (
            "Request",
            {"fields": ["public_id", "organization", "project", "api_key", "status", "count"]},
        ),
        ("Niche", {"fields": ["vertical", "language", "geo_list", "audience", "target"]}),
        ("From the partner", {"fields": ["partner_note"]}),
        (
            "Progress",
            {
                "fields": [
                    "submitted_at",
                    "sla_due_at",
                    "claimed_by",
                    "claimed_at",
                    "assigned_at",
                    "assigned_accounts",
                    "closed_at",
                    "closed_by",
                ]
            },
        ),
    ]

    def get_search_results(self, request, queryset, search_term):
        """Handles are typed as every page writes them: ``@latte_art`` is ``latte_art``."""
        return super().get_search_results(request, queryset, _AT.sub(r"\1", search_term))

    # Permissions ------------------------------------------------------------------------

    def has_add_permission(self, request):
        return False  # requests come from partners through the API

    def has_delete_permission(self, request, obj=None):
        return False

    def has_allocate_permission(self, request, obj=None):
        return request.user.has_perm(f"{self.opts.app_label}.allocate_leaserequest")

    # The list ---------------------------------------------------------------------------

    def get_queryset(self, request):
        assigned = (
            Lease.objects.filter(lease_request=OuterRef("pk"))
            .order_by()
            .values("lease_request")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                assigned_count=Coalesce(Subquery(assigned, output_field=IntegerField()), Value(0))
            )
        )

    @admin.display(description="request", ordering="public_id")
    def request_id(self, obj):
        return short_id(obj.public_id, row_url(obj, self._change_url(obj)))

    @admin.display(description="partner · project", ordering="organization__name")
    def partner(self, obj):
        return format_html(
            '{}<br><span class="quiet">{}</span>', obj.organization.name, obj.project.name
        )

    @admin.display(description="niche")
    def niche(self, obj):
        geo = list_display_text(obj.geo) or "any geo"
        return format_html(
            '<strong>{}</strong><br><span class="quiet">{} · {}</span>',
            obj.vertical,
            obj.language or "any language",
            geo,
        )

    @admin.display(description="geo")
    def geo_list(self, obj):
        return list_display_text(obj.geo) or "any"

    @admin.display(description="assigned of count", ordering="assigned_count")
    def assigned(self, obj):
        count = getattr(obj, "assigned_count", None)
        if count is None:
            count = obj.leases.count()
        if obj.status == RequestStatus.REQUESTED:
            return f"{count} of {obj.count}"
        return format_html(
            '{} of {} <span class="status status-{}">{}</span>',
            count,
            obj.count,
            obj.status,
            obj.get_status_display().lower(),
        )

    @admin.display(description="age", ordering="submitted_at")
    def age(self, obj):
        end = obj.closed_at if obj.status != RequestStatus.REQUESTED and obj.closed_at else None
        return _short_duration((end or timezone.now()) - obj.submitted_at)

    @admin.display(description="SLA due (PT)", ordering="sla_due_at")
    def sla_due(self, obj):
        if obj.sla_due_at is None:
            return "—"
        label = local_time(obj.sla_due_at)
        if obj.status != RequestStatus.REQUESTED:
            return label
        now = timezone.now()
        if obj.sla_due_at < now:
            return format_html(
                '{}<br><span class="sla-overdue">overdue {}</span>',
                label,
                _short_duration(now - obj.sla_due_at),
            )
        if obj.sla_due_at - now < timezone.timedelta(hours=8):
            return format_html('{}<br><span class="sla-soon">due soon</span>', label)
        return label

    @admin.display(description="claimed by", ordering="claimed_by__username")
    def claimed(self, obj):
        if obj.claimed_by is None:
            return format_html('<span class="unclaimed">{}</span>', "unclaimed")
        return obj.claimed_by.get_username()

    @admin.display(description="assigned accounts")
    def assigned_accounts(self, obj):
        leases = obj.leases.select_related("social_account").order_by("pk")
        if not leases:
            return "—"
        return format_html_join(
            ", ",
            '<a href="{}">@{}</a> ({})',
            (
                (
                    reverse("admin:leasing_socialaccount_change", args=[lease.social_account_id]),
                    lease.social_account.handle,
                    lease.social_account_id,
                )
                for lease in leases
            ),
        )

    # The change page --------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = {}
        if obj is not None:
            extra = self._work_context(request, obj)
        try:  # the admin saves the notes in one transaction: a refusal rolls all back
            return super().change_view(
                request, object_id, form_url, {**extra, **(extra_context or {})}
            )
        except OnceRefused as exc:
            self.message_user(request, str(exc), messages.WARNING)
            return HttpResponseRedirect(request.get_full_path())

    def _work_context(self, request, obj) -> dict:
        is_open = obj.status == RequestStatus.REQUESTED
        assigned = obj.leases.count()
        now = timezone.now()
        return {
            "lease_request": obj,
            "is_open": is_open,
            "assigned_count": assigned,
            "still_needed": obj.count - assigned,
            "overdue": is_open and obj.sla_due_at is not None and obj.sla_due_at < now,
            "claimed_by_me": obj.claimed_by_id == request.user.pk,
            "can_claim": is_open and self.has_change_permission(request, obj),
            "can_allocate": is_open and self.has_allocate_permission(request, obj),
            "can_work": self.has_change_permission(request, obj),
            "here": request.get_full_path(),
        }

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/allocate/",
                view(self.allocate_view),
                name="{}_{}_allocate".format(*info),
            ),
            path(
                "<path:object_id>/close/<str:outcome>/",
                view(self.close_view),
                name="{}_{}_close".format(*info),
            ),
            path("next/", view(self.next_view), name="{}_{}_next".format(*info)),
            path("arrivals/", view(self.arrivals_view), name="{}_{}_arrivals".format(*info)),
            path(
                "<path:object_id>/claim/",
                view(self.claim_view),
                name="{}_{}_claim".format(*info),
            ),
            *super().get_urls(),
        ]

    def _request_or_404(self, request, object_id) -> LeaseRequest:
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(f"No lease request {object_id!r}.")
        return obj

    def _change_url(self, obj) -> str:
        return reverse("admin:leasing_leaserequest_change", args=[obj.pk])

    _url_prefix = "leasing_leaserequest"

    def _with_filters(self, request, url: str) -> str:
        """``url`` carrying the queue filters the user came from (``_changelist_filters``)."""
        return add_preserved_filters(
            {"preserved_filters": self.get_preserved_filters(request), "opts": self.opts}, url
        )

    def _work_urls(self, request, obj) -> dict:
        """The links of the work pages, each keeping the queue's filters."""
        names = {
            "change_url": ("change", [obj.pk]),
            "allocate_url": ("allocate", [obj.pk]),
            "reject_url": ("close", [obj.pk, "reject"]),
            "partial_url": ("close", [obj.pk, "partial"]),
            "claim_url": ("claim", [obj.pk]),
            "next_url": ("next", []),
            "queue_url": ("changelist", []),
        }
        return {
            key: self._with_filters(
                request, reverse(f"admin:leasing_leaserequest_{name}", args=args)
            )
            for key, (name, args) in names.items()
        }

    # The queue in the same filters: Next request, arrivals ------------------------------

    def _queue_queryset(self, request):
        """The requests the changelist shows for the filters in ``_changelist_filters``
        (status, SLA, claim, vertical, language, search), unpaged and unordered; None
        when those filters are not ones the changelist accepts."""

        class QueueQuery(ChangeList):
            def get_results(self, request):
                pass  # only the filtered queryset is wanted: no count, no page

        listing = copy.copy(request)
        listing.GET = QueryDict(request.GET.get("_changelist_filters", ""))
        list_display = self.get_list_display(listing)
        try:
            queue = QueueQuery(
                listing,
                self.model,
                list_display,
                self.get_list_display_links(listing, list_display),
                self.get_list_filter(listing),
                self.date_hierarchy,
                self.get_search_fields(listing),
                self.get_list_select_related(listing),
                self.list_per_page,
                self.list_max_show_all,
                self.list_editable,
                self,
                self.get_sortable_by(listing),
                self.search_help_text,
            )
        except (IncorrectLookupParameters, DisallowedModelAdminLookup):
            return None
        return queue.queryset.order_by()

    def next_view(self, request):
        """The oldest unclaimed open request in the queue's filters, or back to the queue
        with a message when there is none."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        queryset = self._queue_queryset(request)
        if queryset is None:
            self.message_user(
                request,
                "Those queue filters are not valid: here is the whole queue.",
                messages.WARNING,
            )
            return HttpResponseRedirect(reverse("admin:leasing_leaserequest_changelist"))
        queue_url = self._with_filters(request, reverse("admin:leasing_leaserequest_changelist"))
        upcoming = (
            queryset.filter(status=RequestStatus.REQUESTED, claimed_by__isnull=True)
            .order_by("submitted_at", "pk")
            .values_list("pk", flat=True)
            .first()
        )
        if upcoming is None:
            self.message_user(
                request,
                "No unclaimed open request left in this view of the queue.",
                messages.INFO,
            )
            return HttpResponseRedirect(queue_url)
        return HttpResponseRedirect(
            self._with_filters(
                request, reverse("admin:leasing_leaserequest_change", args=[upcoming])
            )
        )

    def arrivals_view(self, request):
        """JSON ``{count, since}``: requests submitted after ``since`` (ISO 8601) that the
        queue's filters (``_changelist_filters``) show. The queue page polls it."""
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        raw = request.GET.get("since", "")
        try:
            since = parse_datetime(raw)
        except ValueError:
            since = None
        if since is None or timezone.is_naive(since):
            return JsonResponse(
                {
                    "error": "since must be an ISO 8601 time with its offset, e.g. "
                    "2026-11-30T06:00:00+00:00."
                },
                status=400,
            )
        queryset = self._queue_queryset(request)
        if queryset is None:
            return JsonResponse({"error": "Those queue filters are not valid."}, status=400)
        count = queryset.filter(submitted_at__gt=since).count()
        return JsonResponse({"count": count, "since": since.isoformat()})

    def get_changelist(self, request, **kwargs):
        return RowLinksChangeList

    def changelist_view(self, request, extra_context=None):
        extra = {"arrivals_since": timezone.now().isoformat()}
        return super().changelist_view(request, {**extra, **(extra_context or {})})
