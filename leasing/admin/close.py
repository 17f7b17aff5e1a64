"""The close page: a request closed as partial or rejected with a required note
(``leasing.services.requests.request_close``)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse

from layers_ops.staff.once import ONCE_FIELD, AlreadyDone, OnceRefused

from ..models import (
    RequestStatus,
)
from ..services.errors import LeasingError
from ..services.requests import request_close
from .allocate import expect_assigned_field
from .notes import NOTE_HELP, note_box, note_checked


class CloseForm(forms.Form):
    note = forms.CharField(
        widget=note_box(5), help_text=f"Why it closes this way. Required. {NOTE_HELP}"
    )
    partner_visible = forms.BooleanField(
        required=False,
        initial=True,
        label="Partner-visible",
        help_text="Show this note to the partner as the request's note (else ops only).",
    )
    expect_assigned = expect_assigned_field()

    def clean_note(self):
        return note_checked(self.cleaned_data["note"])


CLOSE_OUTCOMES = {
    "partial": (RequestStatus.PARTIAL, "Close as partial"),
    "reject": (RequestStatus.REJECTED, "Reject"),
}


class ClosePageMixin:
    """Mixed into ``LeaseRequestAdmin``."""

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
