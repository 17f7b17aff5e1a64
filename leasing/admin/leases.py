"""The lease list: every lease with its billing state, and ending leases (``lease_end``)."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from billing.money import dollars
from layers_ops.admin_dates import CheckedDateHierarchy
from layers_ops.admin_display import (
    local_day,
    short_id,
)
from layers_ops.partners.admin_filters import TestDataFilter
from layers_ops.staff.once import ONCE_FIELD, AlreadyDone, OnceRefused

from ..models import (
    DisconnectReason,
    Lease,
    LeaseStatus,
)
from ..services.errors import LeasingError
from ..services.leases import lease_end

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


class LeaseTestDataFilter(TestDataFilter):
    organization_path = "project__organization"


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
    list_filter = ["status", "billing_status", "disconnected_reason", LeaseTestDataFilter]
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
