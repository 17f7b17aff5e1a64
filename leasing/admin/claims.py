"""Claiming requests from the queue: the list actions (claim, take over, unclaim) and the
claim buttons on a request's page, each calling ``leasing.services.claims``."""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.utils.http import url_has_allowed_host_and_scheme

from layers_ops.staff.once import ONCE_FIELD, OnceRefused

from ..services.claims import request_claim, request_unclaim
from ..services.errors import LeasingError


class ClaimPagesMixin:
    """Mixed into ``LeaseRequestAdmin``."""

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
