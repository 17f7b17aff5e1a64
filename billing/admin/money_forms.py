"""The money forms on a wallet's page: top up, adjust, refund, void and move money, each
confirmed then recorded by one ``billing.services`` function, once per page."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.urls import reverse

from layers_ops.grammar import GrammarError, whole_number
from layers_ops.staff.once import ONCE_FIELD, AlreadyDone, OnceRefused, once_check

from ..forms import (
    AdjustmentForm,
    ChargeChoiceField,
    MoneyMovementForm,
    RefundForm,
    TopUpForm,
    VoidForm,
)
from ..models import LedgerTransaction, TransactionKind, Wallet
from ..money import dollars, dollars_in_words
from ..selectors import (
    refundable_charges,
    wallet_balance_cents,
    wallet_charges,
)
from ..services.errors import AlreadyReversed, BillingError
from ..services.movements import wallet_adjust, wallet_fund
from ..services.postings import money_movement_check, wallet_get_or_create
from ..services.reversals import reversal_description, top_up_void, transaction_reverse


class MoneyFormsMixin:
    """Mixed into ``WalletAdmin``."""

    def _done(self, request, wallet, txn, what: str):
        wallet.refresh_from_db(fields=["balance_cents"])
        self.log_change(request, wallet, f"{txn.get_kind_display()} {txn.pk}: {txn.memo}")
        self.message_user(
            request,
            f"{what} for {wallet.organization}: balance now {dollars(wallet.balance_cents)} "
            f"(transaction {txn.pk}).",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:billing_wallet_change", args=[wallet.pk]))

    def _already_done(self, request, wallet, exc):
        """A money form that came again: nothing moved; say what the first submit did."""
        self.message_user(request, str(exc), messages.WARNING)
        return HttpResponseRedirect(reverse("admin:billing_wallet_change", args=[wallet.pk]))

    def _money_form(self, request, wallet, form, title, intro, submit, once=""):
        """A money form's page; ``once`` carries the token it was first drawn with (Back
        from its confirmation), else the page draws a fresh one."""
        return self._render(
            request,
            "admin/billing/wallet/money_form.html",
            title,
            form=form,
            wallet=wallet,
            original=wallet,
            once=once,
            intro=intro,
            submit_label=submit,
            media=self.media + form.media,
        )

    def top_up_view(self, request, object_id):
        """Money received from the partner: one funding transaction, by the signed-in user."""
        return self._record_movement(
            request,
            object_id,
            form_class=TopUpForm,
            record=wallet_fund,
            done="Recorded a top-up of {amount}",
            title="Top up the wallet of {organization}",
            intro="Money the partner sent us. It is added to the wallet at once.",
            submit="Record top-up",
        )

    def adjust_view(self, request, object_id):
        """A correction up or down: one adjustment transaction; never below zero."""
        return self._record_movement(
            request,
            object_id,
            form_class=AdjustmentForm,
            record=wallet_adjust,
            done="Recorded an adjustment of {amount}",
            title="Adjust the wallet of {organization}",
            intro="A correction, up (credit) or down (debit). The wallet never goes below "
            "zero. To give back a lease charge, refund it instead so it stays linked to the "
            "charge.",
            submit="Record adjustment",
        )

    def _undo_from_form(self, request, wallet, form, undo, *, field, already, what):
        """A refund or a void from its valid form: ``undo`` (one billing service) with the
        form's reason, partner text and one-time token. The page to answer with, or None
        when the form now carries the refusal (already undone, or a billing error)."""
        try:
            txn = undo(
                actor=request.user,
                memo=form.cleaned_data["reason"],
                description=form.cleaned_data["description"],
                once=request.POST.get(ONCE_FIELD, ""),
            )
        except AlreadyDone as exc:
            return self._already_done(request, wallet, exc)
        except AlreadyReversed:
            form.add_error(field, already)
        except (BillingError, OnceRefused) as exc:
            form.add_error(None, str(exc))
        else:
            return self._done(request, wallet, txn, what)
        return None

    def _record_movement(
        self, request, object_id, *, form_class, record, done, title, intro, submit
    ):
        """A top-up or adjustment form: ``record`` (one billing service) on a valid POST,
        after a confirmation page when the amount is large."""
        wallet = self._wallet_or_404(request, object_id, move=True)
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            return self._confirm_then_record(
                request,
                form,
                organization=wallet.organization,
                what=submit.removeprefix("Record ").lower(),
                record=lambda: record(
                    organization=wallet.organization,
                    amount_cents=form.amount_cents,
                    actor=request.user,
                    memo=data["reason"],
                    description=data["description"],
                    reference=data["reference"],
                    once=request.POST.get(ONCE_FIELD, ""),
                ),
                done=lambda txn: done.format(amount=dollars(form.amount_cents)),
                form_page=lambda once="": self._money_form(
                    request,
                    wallet,
                    form,
                    title.format(organization=wallet.organization),
                    intro,
                    submit,
                    once,
                ),
            )
        return self._money_form(
            request, wallet, form, title.format(organization=wallet.organization), intro, submit
        )

    def _confirm_then_record(self, request, form, *, organization, what, record, done, form_page):
        """The one path of every top-up and adjustment form once it is valid. An amount
        over the ceiling is refused on the form; one above ``MONEY_CONFIRM_ABOVE_CENTS``
        first shows a page with the amount in words and the balance it leaves, with
        Confirm and Back. The confirmation and Back carry the form's one-time token on
        (``layers_ops.staff.once``), so the form, its confirmation and any number of
        Confirm clicks record one movement; ``record`` spends the token."""
        cents = form.amount_cents
        once = request.POST.get(ONCE_FIELD, "")
        try:
            money_movement_check(amount_cents=cents)
        except BillingError as exc:
            form.add_error("amount", str(exc))
            return form_page()
        if "back" in request.POST:
            try:
                once_check(once, user=request.user)
            except OnceRefused:  # spent or stale: the form starts again with a fresh one
                once = ""
            return form_page(once)
        if abs(cents) > settings.MONEY_CONFIRM_ABOVE_CENTS and "confirm" not in request.POST:
            try:
                once_check(once, user=request.user)
            except AlreadyDone as exc:
                return self._already_done(
                    request, wallet_get_or_create(organization=organization), exc
                )
            except OnceRefused as exc:
                form.add_error(None, str(exc))
                return form_page()
            balance = wallet_balance_cents(organization_id=organization.pk)
            return self._render(
                request,
                "admin/billing/wallet/confirm_movement.html",
                f"Confirm this {what} of {dollars(cents)}",
                form=form,
                wallet=Wallet.objects.filter(organization=organization).first(),
                organization=organization,
                what=what,
                amount=dollars(cents),
                amount_in_words=dollars_in_words(cents),
                balance=dollars(balance),
                new_balance=dollars(balance + cents),
                description=form.cleaned_data["description"],
                once=once,
            )
        try:
            txn = record()
        except AlreadyDone as exc:
            return self._already_done(request, wallet_get_or_create(organization=organization), exc)
        except (BillingError, OnceRefused) as exc:
            form.add_error(None, str(exc))
            return form_page()
        wallet = wallet_get_or_create(organization=organization)
        return self._done(request, wallet, txn, done(txn))

    def refund_view(self, request, object_id):
        """Refund a charge or renewal: its reversal, linked to it; at most once."""
        wallet = self._wallet_or_404(request, object_id, move=True)
        charges = wallet_charges(wallet=wallet)
        initial = None
        chosen = charges.filter(pk=request.GET.get("charge", "")).first()
        if chosen is not None:
            initial = {"charge": chosen.pk, "description": reversal_description(chosen)}
        form = RefundForm(
            request.POST or None,
            initial=initial,
            charges=charges,
            search_url=reverse("admin:billing_wallet_refund_charges", args=[wallet.pk]),
        )
        if request.method == "POST" and form.is_valid():
            charge = form.cleaned_data["charge"]
            done = self._undo_from_form(
                request,
                wallet,
                form,
                lambda **fields: transaction_reverse(original=charge, **fields),
                field="charge",
                already=f"{charge.pk} was already refunded; a charge is refunded at most once. "
                "Nothing was changed.",
                what=f"Refunded {dollars(-charge.wallet_cents)} ({charge.pk})",
            )
            if done is not None:
                return done
        return self._money_form(
            request,
            wallet,
            form,
            f"Refund a charge to {wallet.organization}",
            "The charge is reversed: its amount goes back to the wallet and out of leasing "
            "revenue, linked to the charge. Each charge can be refunded once. The lease "
            "itself is not changed.",
            "Refund",
        )

    def refund_charges_view(self, request, object_id):
        """The refund form's search: this wallet's unrefunded charges matching ``term``,
        20 a page, as select2 reads them."""
        wallet = self._wallet_or_404(request, object_id, move=True)
        try:
            page = whole_number(request.GET.get("page") or "1", minimum=1, maximum=10_000)
        except GrammarError:
            page = 1
        term = request.GET.get("term", "")[:100]
        found = list(refundable_charges(wallet=wallet, term=term)[(page - 1) * 20 : page * 20 + 1])
        label = ChargeChoiceField(queryset=None).label_from_instance
        return JsonResponse(
            {
                "results": [{"id": txn.pk, "text": label(txn)} for txn in found[:20]],
                "pagination": {"more": len(found) > 20},
            }
        )

    def void_view(self, request, object_id, transaction_id):
        """Void a mistaken top-up of this wallet: its reversal (kind ``top_up_void``),
        linked to it; refused once the wallet spent the money, and a second time."""
        wallet = self._wallet_or_404(request, object_id, move=True)
        top_up = (
            LedgerTransaction.objects.filter(
                pk=transaction_id, kind=TransactionKind.FUNDING, entries__account=wallet
            )
            .annotate(wallet_cents=Sum("entries__amount_cents"))
            .first()
        )
        if top_up is None:
            raise Http404("No such top-up on this wallet.")
        voided_by = LedgerTransaction.objects.filter(reverses=top_up).first()
        form = VoidForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            done = self._undo_from_form(
                request,
                wallet,
                form,
                lambda **fields: top_up_void(top_up=top_up, **fields),
                field=None,
                already=f"{top_up.pk} was already voided. Nothing was changed.",
                what=f"Voided the top-up of {dollars(top_up.wallet_cents)}",
            )
            if done is not None:
                return done
        return self._render(
            request,
            "admin/billing/wallet/void_form.html",
            f"Void a top-up of {dollars(top_up.wallet_cents)} to {wallet.organization}",
            form=form,
            wallet=wallet,
            original=wallet,
            top_up=top_up,
            voided_by=voided_by,
            covers=wallet.balance_cents >= top_up.wallet_cents,
            submit_label="Void this top-up",
            media=self.media + form.media,
        )

    def move_money_view(self, request):
        """Top-up or adjustment for any organization (opens a wallet if it has none)."""
        if not self._can_move(request):
            raise PermissionDenied
        form = MoneyMovementForm(request.POST or None, initial=request.GET.dict())

        def form_page(once=""):
            return self._money_form(
                request,
                None,
                form,
                "Record a top-up or adjustment",
                "For any organization, including one with no wallet yet (one is opened). To "
                "top up, adjust or refund one wallet, use the buttons on its page.",
                "Record",
                once,
            )

        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            top_up = data["kind"] == MoneyMovementForm.TOP_UP
            record = wallet_fund if top_up else wallet_adjust
            return self._confirm_then_record(
                request,
                form,
                organization=data["organization"],
                what="top-up" if top_up else "adjustment",
                record=lambda: record(
                    organization=data["organization"],
                    amount_cents=form.amount_cents,
                    actor=request.user,
                    memo=data["memo"],
                    description=data["description"],
                    reference=data["reference"],
                    once=request.POST.get(ONCE_FIELD, ""),
                ),
                done=lambda txn: (
                    f"Recorded {txn.get_kind_display().lower()} of {dollars(form.amount_cents)}"
                ),
                form_page=form_page,
            )
        return form_page()
