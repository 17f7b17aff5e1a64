"""The allocate page: accounts ranked by fit (poor fits marked), picked by hand or the
best N, assigned and charged by ``leasing.services.allocation``."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.utils import timezone

from billing.money import dollars
from billing.selectors import wallet_balance_cents
from layers_ops.grammar import WholeNumberField
from layers_ops.staff.once import ONCE_FIELD, AlreadyDone, OnceRefused

from ..fit import fit_gaps, supply_counts
from ..models import (
    Lease,
    RequestStatus,
)
from ..ranking import allocation_candidates
from ..services.allocation import allocation_assign, allocation_pick_best
from ..services.errors import LeasingError

CANDIDATES_SHOWN = 50


POOR_FIT_LABEL = "I accept accounts that do not match the language/geo"


def expect_assigned_field():
    """The assigned count the page was drawn from: the service refuses the change when
    the request has changed since (``RequestChanged``)."""
    return forms.IntegerField(widget=forms.HiddenInput, min_value=0, required=False)


class PickBestForm(forms.Form):
    count = WholeNumberField(min_value=1, max_value=50, label="How many")
    allow_poor_fit = forms.BooleanField(required=False, label=POOR_FIT_LABEL)
    expect_assigned = expect_assigned_field()


class ChooseAccountsForm(forms.Form):
    accounts = forms.MultipleChoiceField(
        choices=[], error_messages={"required": "Tick at least one account."}
    )
    allow_poor_fit = forms.BooleanField(required=False, label=POOR_FIT_LABEL)
    expect_assigned = expect_assigned_field()

    def __init__(self, *args, choices=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["accounts"].choices = [(pk, pk) for pk in choices]


class AllocatePageMixin:
    """Mixed into ``LeaseRequestAdmin``."""

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
