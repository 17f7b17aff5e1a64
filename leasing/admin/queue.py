"""The ops queue: lease requests, their notes, and the leases they produced.

The changelist is the queue (open requests oldest first, with SLA and claim, and how
many arrived since it was loaded); each request has buttons to claim it, allocate
accounts (a custom admin view, ranked by fit, poor fits marked) and close it as partial
or rejected (an intermediate form), then go on to the next request in the same queue
filters (carried as Django's ``_changelist_filters``). Every change goes through one
service in ``leasing.services``; these views only parse, call and report.
"""

import copy
import re

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.exceptions import DisallowedModelAdminLookup
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.views.main import SEARCH_VAR, ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import (
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme

from billing.money import dollars
from billing.selectors import wallet_balance_cents
from layers_ops.admin_dates import CheckedDateHierarchy
from layers_ops.admin_display import (
    NothingChangedMixin,
    RowLinksChangeList,
    local_day,
    local_time,
    row_url,
    short_id,
)
from layers_ops.grammar import WholeNumberField
from layers_ops.staff.once import ONCE_FIELD, AlreadyDone, OnceRefused

from ..fit import fit_gaps, supply_counts
from ..models import (
    NOTE_MAX_LENGTH,
    DisconnectReason,
    Lease,
    LeaseRequest,
    LeaseStatus,
    RequestNote,
    RequestStatus,
)
from ..ranking import allocation_candidates
from ..services.allocation import allocation_assign, allocation_pick_best
from ..services.claims import request_claim, request_unclaim
from ..services.errors import LeasingError
from ..services.leases import lease_end
from ..services.requests import request_close, request_note_add
from ..validators import InvalidValue, list_display_text, note_body_clean, vertical_key

CANDIDATES_SHOWN = 50
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


NOTE_HELP = f"At most {NOTE_MAX_LENGTH:,} characters; a longer note is refused, never cut."


def _note_checked(text: str) -> str:
    try:
        return note_body_clean(text)
    except InvalidValue as exc:
        raise forms.ValidationError(str(exc)) from None


def _note_box(rows: int) -> forms.Textarea:
    # No maxlength attribute: a browser would silently cut a longer paste at the limit.
    return forms.Textarea(attrs={"rows": rows, "cols": 80})


class RequestNoteForm(forms.ModelForm):
    class Meta:
        model = RequestNote
        fields = ["body", "visibility"]
        widgets = {"body": _note_box(3)}
        help_texts = {"body": NOTE_HELP}

    def clean_body(self):
        return _note_checked(self.cleaned_data["body"])


class RequestNoteInline(admin.TabularInline):
    """Notes are added, never edited: a correction is a new note."""

    model = RequestNote
    form = RequestNoteForm
    fields = ["body", "visibility", "written_by", "created_at"]
    readonly_fields = ["written_by", "created_at"]
    extra = 1

    @admin.display(description="author")
    def written_by(self, obj):
        return obj.author_name if obj.pk else ""

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("author")


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


POOR_FIT_LABEL = "I accept accounts that do not match the language/geo"


def _expect_assigned_field():
    """The assigned count the page was drawn from: the service refuses the change when
    the request has changed since (``RequestChanged``)."""
    return forms.IntegerField(widget=forms.HiddenInput, min_value=0, required=False)


class PickBestForm(forms.Form):
    count = WholeNumberField(min_value=1, max_value=50, label="How many")
    allow_poor_fit = forms.BooleanField(required=False, label=POOR_FIT_LABEL)
    expect_assigned = _expect_assigned_field()


class ChooseAccountsForm(forms.Form):
    accounts = forms.MultipleChoiceField(
        choices=[], error_messages={"required": "Tick at least one account."}
    )
    allow_poor_fit = forms.BooleanField(required=False, label=POOR_FIT_LABEL)
    expect_assigned = _expect_assigned_field()

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accounts"].choices = [(pk, pk) for pk in choices]


class CloseForm(forms.Form):
    note = forms.CharField(
        widget=_note_box(5), help_text=f"Why it closes this way. Required. {NOTE_HELP}"
    )
    partner_visible = forms.BooleanField(
        required=False,
        initial=True,
        label="Partner-visible",
        help_text="Show this note to the partner as the request's note (else ops only).",
    )
    expect_assigned = _expect_assigned_field()

    def clean_note(self):
        return _note_checked(self.cleaned_data["note"])


CLOSE_OUTCOMES = {
    "partial": (RequestStatus.PARTIAL, "Close as partial"),
    "reject": (RequestStatus.REJECTED, "Reject"),
}


@admin.register(LeaseRequest)
class LeaseRequestAdmin(NothingChangedMixin, admin.ModelAdmin):
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

    # Actions on the list ----------------------------------------------------------------

    def _claim_many(self, request, queryset, *, take_over: bool):
        claimed, refused, taken_from = [], [], []
        for lease_request in queryset.select_related("claimed_by"):
            try:
                claim = request_claim(
                    lease_request=lease_request,
                    actor=request.user,
                    take_over=take_over,
                    once=request.POST.get(ONCE_FIELD, ""),
                )
            except (LeasingError, OnceRefused) as exc:
                refused.append(str(exc))
                continue
            claimed.append(lease_request.public_id)
            if claim.previous_holder is not None:
                taken_from.append(
                    f"{lease_request.public_id} from {claim.previous_holder.get_username()}"
                )
            self.log_change(request, lease_request, "Claimed" if not take_over else "Took over")
        if claimed:
            message = f"You now work {len(claimed)} request(s): {', '.join(claimed)}."
            if taken_from:
                message += f" Taken over: {'; '.join(taken_from)}."
            self.message_user(request, message, messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)

    @admin.action(description="Claim selected requests", permissions=["change"])
    def claim_selected(self, request, queryset):
        self._claim_many(request, queryset, take_over=False)

    @admin.action(
        description="Take over selected requests (from whoever holds them)",
        permissions=["change"],
    )
    def take_over_selected(self, request, queryset):
        self._claim_many(request, queryset, take_over=True)

    @admin.action(description="Unclaim selected requests", permissions=["change"])
    def unclaim_selected(self, request, queryset):
        released, refused = [], []
        for lease_request in queryset:
            try:
                request_unclaim(
                    lease_request=lease_request,
                    actor=request.user,
                    once=request.POST.get(ONCE_FIELD, ""),
                )
            except (LeasingError, OnceRefused) as exc:
                refused.append(str(exc))
                continue
            released.append(lease_request.public_id)
            self.log_change(request, lease_request, "Unclaimed")
        if released:
            self.message_user(request, f"Released: {', '.join(released)}.", messages.SUCCESS)
        for reason in refused:
            self.message_user(request, reason, messages.WARNING)

    # Notes ------------------------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        pass  # every field is read-only: only the notes inline saves anything

    def save_formset(self, request, form, formset, change):
        # Notes go through the service (author and time recorded, never edited), each
        # spending the page's one-time token once: a second Save of the page writes none.
        formset.new_objects = [
            request_note_add(
                lease_request=form.instance,
                body=note_form.cleaned_data["body"],
                visibility=note_form.cleaned_data["visibility"],
                author=request.user,
                once=request.POST.get(ONCE_FIELD, ""),
                once_part=f"note:{index}",
            )
            for index, note_form in enumerate(formset.forms)
            if note_form.has_changed() and not note_form.instance.pk
        ]
        formset.changed_objects, formset.deleted_objects = [], []

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

    def _back(self, request, obj) -> HttpResponseRedirect:
        target = request.POST.get("next") or ""
        if not url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            target = self._change_url(obj)
        return HttpResponseRedirect(target)

    def claim_view(self, request, object_id):
        """POST: claim, take over or release a request (buttons on its page)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self._request_or_404(request, object_id)
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        what = request.POST.get("do", "claim")
        once = request.POST.get(ONCE_FIELD, "")
        try:
            if what == "unclaim":
                request_unclaim(lease_request=obj, actor=request.user, once=once)
                self.log_change(request, obj, "Unclaimed")
                self.message_user(request, f"Released {obj.public_id} back to the queue.")
            else:
                claim = request_claim(
                    lease_request=obj, actor=request.user, take_over=what == "take_over", once=once
                )
                self.log_change(request, obj, "Claimed" if what == "claim" else "Took over")
                message = f"You are working {obj.public_id}."
                if claim.previous_holder is not None:
                    message += (
                        f" Taken over from {claim.previous_holder.get_username()} "
                        "(an internal note records it)."
                    )
                self.message_user(request, message, messages.SUCCESS)
        except (LeasingError, OnceRefused) as exc:
            self.message_user(request, str(exc), messages.WARNING)
        return self._back(request, obj)

    def allocate_view(self, request, object_id):
        """Rank ready accounts for the request and assign the best N or a manual choice:
        one service call (lease + charge in one transaction), a message saying what was
        assigned and charged."""
        obj = self._request_or_404(request, object_id)
        if not self.has_allocate_permission(request, obj):
            raise PermissionDenied
        pick_form = PickBestForm(prefix="best")
        choose_form = ChooseAccountsForm(prefix="choose")
        error = None
        if request.method == "POST":
            candidates_ids = request.POST.getlist("choose-accounts")
            if "pick_best" in request.POST:
                pick_form = PickBestForm(request.POST, prefix="best")
                call = (
                    (
                        allocation_pick_best,
                        {
                            "count": pick_form.cleaned_data["count"],
                            "allow_poor_fit": pick_form.cleaned_data["allow_poor_fit"],
                            "expect_assigned": pick_form.cleaned_data["expect_assigned"],
                        },
                    )
                    if pick_form.is_valid()
                    else None
                )
            else:
                choose_form = ChooseAccountsForm(
                    request.POST, prefix="choose", choices=candidates_ids
                )
                call = (
                    (
                        allocation_assign,
                        {
                            "accounts": choose_form.cleaned_data["accounts"],
                            "allow_poor_fit": choose_form.cleaned_data["allow_poor_fit"],
                            "expect_assigned": choose_form.cleaned_data["expect_assigned"],
                        },
                    )
                    if choose_form.is_valid()
                    else None
                )
            if call is not None:
                service, arguments = call
                try:
                    allocation = service(
                        lease_request=obj,
                        actor=request.user,
                        once=request.POST.get(ONCE_FIELD, ""),
                        **arguments,
                    )
                except AlreadyDone as exc:  # this page was submitted already
                    return self._already_done(request, obj, exc)
                except (LeasingError, OnceRefused) as exc:  # taken meanwhile, wallet short,
                    error = str(exc)  # claim, poor fit, changed meanwhile, stale page
                else:
                    return self._allocated(request, obj, allocation)
        return TemplateResponse(
            request,
            "admin/leasing/leaserequest/allocate.html",
            self._allocate_context(request, obj, pick_form, choose_form, error),
        )

    def _already_done(self, request, obj, exc):
        """A form that came again: say what the first submit did, on the request's page."""
        self.message_user(request, str(exc), messages.WARNING)
        return HttpResponseRedirect(self._with_filters(request, self._change_url(obj)))

    def _allocated(self, request, obj, allocation):
        handles = ", ".join(
            f"@{lease.social_account.handle}"
            for lease in Lease.objects.filter(pk__in=[lease.pk for lease in allocation.leases])
            .select_related("social_account")
            .order_by("social_account__handle")
        )
        balance = wallet_balance_cents(organization_id=obj.organization_id)
        lease_request = allocation.lease_request
        summary = (
            f"Assigned {len(allocation.leases)} account(s) to {lease_request.public_id} "
            f"({handles}); charged {dollars(allocation.charged_cents)} to "
            f"{obj.organization.name}, balance now {dollars(balance)}."
        )
        if lease_request.status == RequestStatus.ASSIGNED:
            summary += " The request is complete (assigned)."
        else:
            still = lease_request.count - lease_request.leases.count()
            summary += f" {still} still needed."
        self.log_change(request, obj, summary)
        self.message_user(request, summary, messages.SUCCESS)
        return HttpResponseRedirect(self._with_filters(request, self._change_url(obj)))

    def _allocate_context(self, request, obj, pick_form, choose_form, error) -> dict:
        assigned = obj.leases.count()
        still_needed = obj.count - assigned
        price = settings.LEASE_PRICE_CENTS
        balance = wallet_balance_cents(organization_id=obj.organization_id)
        covers = balance // price
        is_open = obj.status == RequestStatus.REQUESTED
        candidates = allocation_candidates(obj, limit=CANDIDATES_SHOWN) if is_open else []
        supply, fitting = supply_counts(obj) if is_open else (0, 0)
        rows = [
            {
                "c": candidate,
                "gaps": fit_gaps(
                    pool_language=candidate.pool.language,
                    follower_geos=candidate.account.follower_geos,
                    lease_request=obj,
                ),
            }
            for candidate in candidates
        ]
        # Pre-fill only what fits: poor fits are chosen on purpose, never by default.
        suggested = min(still_needed, covers, fitting) or None
        if not pick_form.is_bound:
            pick_form = PickBestForm(
                prefix="best", initial={"count": suggested, "expect_assigned": assigned}
            )
        chosen = set(request.POST.getlist("choose-accounts")) if request.method == "POST" else set()
        holder = obj.claimed_by
        return {
            **self.admin_site.each_context(request),
            "title": f"Allocate accounts to {obj.public_id}",
            "subtitle": None,
            "opts": self.opts,
            "original": obj,
            "lease_request": obj,
            "is_open": is_open,
            "assigned_count": assigned,
            "still_needed": still_needed,
            "balance": dollars(balance),
            "covers": covers,
            "price": dollars(price),
            "candidates": candidates,
            "rows": rows,
            "poor_count": sum(1 for row in rows if row["gaps"]),
            "fitting_supply": fitting,
            "chosen": chosen,
            "supply": supply,
            **self._claim_context(request, obj, holder),
            **self._work_urls(request, obj),
            "pick_form": pick_form,
            "choose_form": choose_form,
            "error": error,
            "now": timezone.now(),
            "media": self.media,
        }

    def _claim_context(self, request, obj, holder) -> dict:
        return {
            "holder": holder,
            "claimed_by_other": holder is not None and holder.pk != request.user.pk,
            "claimed_by_me": holder is not None and holder.pk == request.user.pk,
            "here": request.get_full_path(),
        }

    def close_view(self, request, object_id, outcome):
        """Close as partial (some assigned) or reject (none): a required note, shown to
        the partner or kept internal."""
        if outcome not in CLOSE_OUTCOMES:
            raise Http404(f"No such way to close a request: {outcome!r}.")
        obj = self._request_or_404(request, object_id)
        if not self.has_allocate_permission(request, obj):
            raise PermissionDenied
        status, title = CLOSE_OUTCOMES[outcome]
        assigned = obj.leases.count()
        form = CloseForm(request.POST or None, initial={"expect_assigned": assigned})
        if request.method == "POST" and form.is_valid():
            try:
                request_close(
                    lease_request=obj,
                    outcome=status,
                    note=form.cleaned_data["note"],
                    partner_visible=form.cleaned_data["partner_visible"],
                    actor=request.user,
                    expect_assigned=form.cleaned_data["expect_assigned"],
                    once=request.POST.get(ONCE_FIELD, ""),
                )
            except AlreadyDone as exc:
                return self._already_done(request, obj, exc)
            except (LeasingError, OnceRefused) as exc:
                form.add_error(None, str(exc))
            else:
                shown = "partner-visible" if form.cleaned_data["partner_visible"] else "internal"
                message = f"Closed {obj.public_id} as {status} with a {shown} note."
                self.log_change(request, obj, message)
                self.message_user(request, message, messages.SUCCESS)
                return HttpResponseRedirect(self._with_filters(request, self._change_url(obj)))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{title}: {obj.public_id}",
            "opts": self.opts,
            "original": obj,
            "lease_request": obj,
            "outcome": status,
            "outcome_label": title,
            "assigned_count": assigned,
            "form": form,
            "media": self.media + form.media,
            **self._claim_context(request, obj, obj.claimed_by),
            **self._work_urls(request, obj),
        }
        return TemplateResponse(request, "admin/leasing/leaserequest/close.html", context)


_ENDED_BY = {
    DisconnectReason.RELEASED_BY_PARTNER: "released by partner",
    DisconnectReason.UNPAID: "unpaid",
    DisconnectReason.OPS: "by ops",
}


class EndLeasesForm(forms.Form):
    reason = forms.CharField(
        max_length=150,
        strip=True,
        widget=forms.TextInput(attrs={"size": 60, "autofocus": True}),
        help_text="Kept in each account's history with your name and the time.",
    )


@admin.register(Lease)
class LeaseAdmin(CheckedDateHierarchy, admin.ModelAdmin):
    """Every lease: which account, for whom, and where its billing stands. Read-only:
    leases are made by allocating a request and ended by renewals, the partner or ops
    (the *End selected leases* action, permission ``leasing.end_lease``)."""

    actions = ["end_leases"]

    list_display = [
        "account",
        "partner_project",
        "request_link",
        "state",
        "billing",
        "price",
        "assigned_on",
        "renews_on",
    ]
    list_select_related = ["social_account", "project__organization", "lease_request"]
    list_filter = ["status", "billing_status", "disconnected_reason"]
    search_fields = [
        "social_account__handle",
        "social_account__id",
        "project__id",
        "project__name",
        "project__organization__name",
        "lease_request__public_id",
    ]
    date_hierarchy = "assigned_at"

    @admin.display(description="account", ordering="social_account__handle")
    def account(self, obj):
        return f"@{obj.social_account.handle}"

    @admin.display(description="partner · project", ordering="project__organization__name")
    def partner_project(self, obj):
        return format_html(
            "{}<br><small>{}</small>", obj.project.organization.name, obj.project.name
        )

    @admin.display(description="request", ordering="lease_request__public_id")
    def request_link(self, obj):
        if obj.lease_request is None:
            return "—"
        url = reverse("admin:leasing_leaserequest_change", args=[obj.lease_request_id])
        return short_id(obj.lease_request.public_id, url)

    @admin.display(description="billing", ordering="billing_status")
    def billing(self, obj):
        if obj.billing_status == "past_due":
            return format_html(
                '<strong style="color:#ba2121">past due</strong><br><small>since {}</small>',
                local_day(obj.past_due_since),
            )
        return "current"

    @admin.display(description="a month", ordering="monthly_price_cents")
    def price(self, obj):
        return dollars(obj.monthly_price_cents)

    @admin.display(description="assigned", ordering="assigned_at")
    def assigned_on(self, obj):
        return local_day(obj.assigned_at)

    @admin.display(description="next renewal", ordering="next_renewal_at")
    def renews_on(self, obj):
        return local_day(obj.next_renewal_at)

    @admin.display(description="status", ordering="disconnected_at")
    def state(self, obj):
        """Running, or when and why it ended (one column, so the list fits 1366 px with
        the action checkboxes)."""
        if obj.disconnected_at is None:
            return obj.get_status_display()
        day = local_day(obj.disconnected_at)
        why = _ENDED_BY.get(obj.disconnected_reason, obj.disconnected_reason)
        return format_html("Ended {}<br><small>{}</small>", day, why)

    def has_add_permission(self, request):
        return False  # leases are made by allocating a request

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_end_permission(self, request):
        return request.user.has_perm("leasing.end_lease")

    @admin.action(description="End selected leases (ops)", permissions=["end"])
    def end_leases(self, request, queryset):
        """Ask for a reason, then end each running lease selected (``lease_end``, reason
        ``ops``): it stops renewing and its account goes to cooldown. Nothing refunded."""
        leases = list(
            queryset.select_related("social_account", "project__organization").order_by("pk")
        )
        running = [lease for lease in leases if lease.status == LeaseStatus.ASSIGNED]
        if not running:
            self.message_user(
                request, "None of the selected leases is running: nothing ended.", messages.WARNING
            )
            return None
        form = EndLeasesForm(request.POST if "confirm" in request.POST else None)
        if form.is_valid():
            return self._end(
                request, running, form.cleaned_data["reason"], once=request.POST.get(ONCE_FIELD, "")
            )
        return TemplateResponse(
            request,
            "admin/leasing/lease/end_leases.html",
            {
                **self.admin_site.each_context(request),
                "title": "End leases",
                "opts": self.opts,
                "leases": leases,
                "running": running,
                "form": form,
                "action_name": "end_leases",
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                "price_total": dollars(sum(lease.monthly_price_cents for lease in running)),
            },
        )

    def _end(self, request, running, reason, *, once):
        ended, refused, repeated = [], [], []
        for lease in running:
            try:
                lease_end(
                    lease=lease,
                    reason=DisconnectReason.OPS,
                    actor=request.user,
                    note=reason,
                    once=once,
                )
            except AlreadyDone as exc:  # this page was submitted already
                repeated.append(str(exc))
                continue
            except (LeasingError, OnceRefused) as exc:  # ended meanwhile; a stale page
                refused.append(str(exc))
                continue
            ended.append(f"@{lease.social_account.handle}")
            self.log_change(request, lease, f"Ended (ops): {reason}")
        if ended:
            self.message_user(
                request,
                f"Ended {len(ended)} lease(s): {', '.join(ended)}. They renew no more; the "
                "accounts are in cooldown. Nothing was refunded.",
                messages.SUCCESS,
            )
        if repeated:
            self.message_user(
                request,
                f"Already done for {len(repeated)} lease(s): this page was submitted before. "
                + repeated[0],
                messages.WARNING,
            )
        if refused:
            self.message_user(request, " ".join(dict.fromkeys(refused)), messages.WARNING)
        return None
