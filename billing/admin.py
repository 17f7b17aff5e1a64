"""The finance console: wallets, money forms, the ledger, statements, reconciliation.

Every page here needs a billing permission (the Finance group has them; Ops has none).
Each form calls one service in ``billing.services``; every read is a selector.
"""

import datetime

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote, unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Q, Sum
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from layers_ops.admin_dates import CheckedDateChangeList, CheckedDateHierarchy
from layers_ops.admin_display import RowLinksChangeList, local_time, row_url, short_id
from layers_ops.csv_export import csv_response
from layers_ops.grammar import GrammarError, whole_number
from layers_ops.staff.once import ONCE_FIELD, AlreadyDone, OnceRefused, once_check

from .charts import Series, balance_line_svg, stacked_bars_svg
from .forms import (
    AdjustmentForm,
    ChargeChoiceField,
    LedgerDatesForm,
    MoneyMovementForm,
    RefundForm,
    TopUpForm,
    VoidForm,
)
from .models import LEASE_CHARGE_KINDS, LedgerEntry, LedgerTransaction, TransactionKind, Wallet
from .money import dollars, dollars_in_words, dollars_number
from .reconciliation import check_names, reconciliation_run
from .selectors import (
    FINANCE_TZ,
    FIRST_BILLING_MONTH,
    MonthNotValid,
    balance_history,
    billing_month_current,
    billing_month_parse,
    refundable_charges,
    revenue_by_month,
    statement_for,
    wallet_balance_cents,
    wallet_charges,
)
from .services import (
    AlreadyReversed,
    BillingError,
    money_movement_check,
    reversal_description,
    top_up_void,
    transaction_reverse,
    wallet_adjust,
    wallet_fund,
    wallet_get_or_create,
)
from .usage import lease_usage, runway_days

MOVE_MONEY = "billing.move_money"

# The balance chart's periods: query value -> (label, days back; None for all history).
CHART_PERIODS = {
    "30d": ("30 days", 30),
    "90d": ("90 days", 90),
    "1y": ("12 months", 365),
    "all": ("All history", None),
}


class ReadOnlyAdmin(admin.ModelAdmin):
    """History must not change: no add, change or delete, whoever asks."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class WalletChangeList(ChangeList):
    """Reads the lease usage of the page's organizations in one call, after the page
    itself, so the list runs a fixed number of queries however many wallets it shows."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        usage = lease_usage(wallet.organization_id for wallet in self.result_list)
        now = timezone.now()
        for wallet in self.result_list:
            wallet.usage = usage[wallet.organization_id]
            wallet.runway = runway_days(
                balance_cents=wallet.balance_cents, usage=wallet.usage, now=now
            )


def _runway_text(days, usage) -> str:
    if days is not None:
        return f"{days} days"
    # runway_days gives None when nothing renews, or when the balance outlasts its horizon.
    return "over 2 years" if usage.renewals else "no renewals due"


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = [
        "organization",
        "balance",
        "active_leases",
        "monthly_burn",
        "runway",
        "past_due_leases",
        "statement_link",
    ]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "organization__id"]
    readonly_fields = ["organization", "balance", "currency", "created_at"]
    fields = readonly_fields
    list_per_page = 50

    def get_changelist(self, request, **kwargs):
        return WalletChangeList

    @admin.display(description="balance (USD)", ordering="balance_cents")
    def balance(self, obj):
        return dollars(obj.balance_cents)

    @admin.display(description="active leases")
    def active_leases(self, obj):
        return obj.usage.active_leases

    @admin.display(description="monthly burn")
    def monthly_burn(self, obj):
        return dollars(obj.usage.monthly_burn_cents)

    @admin.display(description="runway")
    def runway(self, obj):
        return _runway_text(obj.runway, obj.usage)

    @admin.display(description="past-due leases")
    def past_due_leases(self, obj):
        count = obj.usage.past_due_leases
        return format_html('<strong style="color:#ba2121">{}</strong>', count) if count else 0

    @admin.display(description="statement")
    def statement_link(self, obj):
        url = reverse("admin:billing_wallet_statement", args=[obj.pk])
        return format_html('<a href="{}">This month</a>', url)

    def get_urls(self):
        def view(func, route, name):
            return path(route, self.admin_site.admin_view(func), name=f"billing_wallet_{name}")

        return [
            view(self.move_money_view, "move-money/", "move_money"),
            view(self.reconciliation_view, "reconciliation/", "reconciliation"),
            view(self.revenue_view, "revenue/", "revenue"),
            view(self.top_up_view, "<path:object_id>/top-up/", "top_up"),
            view(self.adjust_view, "<path:object_id>/adjust/", "adjust"),
            view(self.refund_charges_view, "<path:object_id>/refund/charges/", "refund_charges"),
            view(self.refund_view, "<path:object_id>/refund/", "refund"),
            view(self.void_view, "<path:object_id>/void/<str:transaction_id>/", "void"),
            view(self.statement_view, "<path:object_id>/statement/", "statement"),
            *super().get_urls(),
        ]

    # --- pages ------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_move_money": self._can_move(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        wallet = self.get_object(request, object_id)
        extra = {"can_move_money": self._can_move(request)}
        if wallet is not None:
            usage = lease_usage([wallet.organization_id])[wallet.organization_id]
            period = request.GET.get("chart", "all")
            if period not in CHART_PERIODS:
                period = "all"
            days = CHART_PERIODS[period][1]
            since = timezone.now() - datetime.timedelta(days=days) if days else None
            history = balance_history(wallet=wallet, since=since)
            extra |= {
                "usage": usage,
                "burn": dollars(usage.monthly_burn_cents),
                "runway": _runway_text(
                    runway_days(balance_cents=wallet.balance_cents, usage=usage), usage
                ),
                "balance_chart": balance_line_svg(
                    points=history.points,
                    by_day=history.by_day,
                    title=f"Balance of {wallet.organization} over time",
                ),
                "history": history,
                "chart_period": period,
                "chart_periods": [(key, label) for key, (label, _) in CHART_PERIODS.items()],
                "ledger_url": reverse("admin:billing_ledgerentry_changelist")
                + f"?account__organization__id__exact={wallet.organization_id}",
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def _can_move(self, request) -> bool:
        return request.user.has_perm(MOVE_MONEY)

    def _render(self, request, template, title, **context):
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.opts,
                **context,
            },
        )

    def _wallet_or_404(self, request, object_id, *, move=False) -> Wallet:
        if not self.has_view_permission(request) or (move and not self._can_move(request)):
            raise PermissionDenied
        wallet = self.get_object(request, object_id)
        if wallet is None:
            raise Http404("No such wallet.")
        return wallet

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
            try:
                txn = transaction_reverse(
                    original=charge,
                    actor=request.user,
                    memo=form.cleaned_data["reason"],
                    description=form.cleaned_data["description"],
                    once=request.POST.get(ONCE_FIELD, ""),
                )
            except AlreadyDone as exc:
                return self._already_done(request, wallet, exc)
            except AlreadyReversed:
                form.add_error(
                    "charge",
                    f"{charge.pk} was already refunded; a charge is refunded at most once. "
                    "Nothing was changed.",
                )
            except (BillingError, OnceRefused) as exc:
                form.add_error(None, str(exc))
            else:
                return self._done(
                    request, wallet, txn, f"Refunded {dollars(-charge.wallet_cents)} ({charge.pk})"
                )
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
            try:
                txn = top_up_void(
                    top_up=top_up,
                    actor=request.user,
                    memo=form.cleaned_data["reason"],
                    description=form.cleaned_data["description"],
                    once=request.POST.get(ONCE_FIELD, ""),
                )
            except AlreadyDone as exc:
                return self._already_done(request, wallet, exc)
            except AlreadyReversed:
                form.add_error(None, f"{top_up.pk} was already voided. Nothing was changed.")
            except (BillingError, OnceRefused) as exc:
                form.add_error(None, str(exc))
            else:
                return self._done(
                    request, wallet, txn, f"Voided the top-up of {dollars(top_up.wallet_cents)}"
                )
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

    def statement_view(self, request, object_id):
        """The wallet's month, on screen or (``?format=csv``) as a download. A month that
        cannot be read, before 2000 or in the future shows the page with the month picker
        and what is wrong (the same rule as the partner's API)."""
        wallet = self._wallet_or_404(request, object_id)
        raw, current = request.GET.get("month", ""), billing_month_current()
        context = {
            "wallet": wallet,
            "original": wallet,
            "month_value": raw,
            "current_month": f"{current[0]}-{current[1]:02d}",
        }
        try:
            year, month = billing_month_parse(raw) if raw else current
        except MonthNotValid as exc:
            return self._render(
                request,
                "admin/billing/wallet/statement.html",
                f"Statement for {wallet.organization}",
                **context,
                month_error=str(exc),
            )
        statement = statement_for(organization=wallet.organization, year=year, month=month)
        if request.GET.get("format") == "csv":
            return csv_response(
                f"statement-{wallet.organization_id}-{year}-{month:02d}.csv",
                STATEMENT_CSV_HEADER,
                _statement_rows(statement),
            )
        label = statement.starts_at.strftime("%B %Y")
        previous = statement.starts_at - datetime.timedelta(days=1)
        following = statement.ends_at
        return self._render(
            request,
            "admin/billing/wallet/statement.html",
            f"Statement for {wallet.organization}, {label}",
            **(context | {"month_value": statement.month_label}),
            statement=statement,
            month_label=label,
            previous_month=(
                f"{previous.year}-{previous.month:02d}"
                if (year, month) > FIRST_BILLING_MONTH
                else None
            ),
            next_month=(
                f"{following.year}-{following.month:02d}" if (year, month) < current else None
            ),
        )

    def reconciliation_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        problems = reconciliation_run(source="console", actor_label=request.user.get_username())
        by_check = {name: [p for p in problems if p.check == name] for name in check_names()}
        return self._render(
            request,
            "admin/billing/wallet/reconciliation.html",
            "Reconciliation",
            problems=problems,
            by_check=by_check,
            checked_at=timezone.now(),
        )

    def revenue_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        months = revenue_by_month(months=12)
        chart = stacked_bars_svg(
            title="Leasing revenue by month: first-month charges and renewals",
            categories=[m.label for m in months],
            series=[
                Series(
                    "first_month",
                    "First-month charges",
                    "#79aec8",
                    [m.first_month_cents for m in months],
                ),
                Series("renewals", "Renewals", "#417690", [m.renewal_cents for m in months]),
            ],
        )
        return self._render(
            request,
            "admin/billing/wallet/revenue.html",
            "Revenue by month",
            months=list(reversed(months)),
            chart=chart,
        )


def _csv_times(moment) -> list[str]:
    """An instant as CSV exports write it: UTC, then the same instant in Los Angeles."""
    return [
        moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        moment.astimezone(FINANCE_TZ).strftime("%Y-%m-%d %H:%M:%S"),
    ]


def _csv_money(cents: int) -> list:
    """An amount as CSV exports write it: cents, then dollars (both numbers)."""
    return [cents, dollars_number(cents)]


STATEMENT_CSV_HEADER = [
    "section",
    "time_utc",
    "time_america_los_angeles",
    "transaction_id",
    "memo",
    "reference",
    "actor",
    "amount_cents",
    "amount_usd",
    "balance_after_cents",
    "balance_after_usd",
]


def _statement_rows(statement):
    organization = statement.organization
    no_line = ["", "", "", ""]  # transaction, memo, reference, actor
    no_money = ["", ""]
    yield [
        "Statement",
        "",
        f"{statement.starts_at:%B %Y}, America/Los_Angeles",
        "",
        f"{organization.name} ({organization.pk})",
        *["", "", *no_money, *no_money],
    ]
    opening = _csv_money(statement.opening_cents)
    yield ["Opening balance", *_csv_times(statement.starts_at), *no_line, *opening, *no_money]
    for section in statement.sections:
        for line in section.lines:
            yield [
                section.heading,
                *_csv_times(line.at),
                line.transaction_id,
                line.memo,
                line.reference,
                line.actor,
                *_csv_money(line.amount_cents),
                *_csv_money(line.balance_after_cents),
            ]
        total = _csv_money(section.total_cents)
        yield [f"{section.heading} total", "", "", *no_line, *total, *no_money]
    closing = _csv_money(statement.closing_cents)
    yield ["Closing balance", *_csv_times(statement.ends_at), *no_line, *closing, *no_money]


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["account", "amount", "balance_after"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    @admin.display(description="amount")
    def amount(self, obj):
        return dollars(obj.amount_cents)

    @admin.display(description="balance after")
    def balance_after(self, obj):
        return dollars(obj.balance_after_cents)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _cut(text: str, length: int = 60) -> str:
    """``text`` cut to ``length`` characters with an ellipsis, and words no longer than
    30 characters (a pasted id or URL without spaces would otherwise widen its column)."""
    text = text if len(text) <= length else text[: length - 1] + "…"
    return " ".join(w if len(w) <= 30 else w[:29] + "…" for w in text.split(" "))


def _local_and_utc(moment) -> str:
    local = moment.astimezone(FINANCE_TZ).strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"{local} ({moment.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC)"


def _transaction_link(txn: LedgerTransaction):
    url = reverse("admin:billing_ledgertransaction_change", args=[quote(txn.pk)])
    when = txn.created_at.astimezone(FINANCE_TZ).strftime("%Y-%m-%d %H:%M %Z")
    return format_html(
        '<a href="{}">{} {}</a>, {} by {}',
        url,
        txn.get_kind_display(),
        txn.pk,
        when,
        txn.actor_label,
    )


class TransactionChangeList(RowLinksChangeList, CheckedDateChangeList):
    """Checked date drill-downs, and row links for the self-linked id column."""


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(CheckedDateHierarchy, ReadOnlyAdmin):
    list_display = ["transaction_id", "when_listed", "kind", "amount", "why", "by", "ref"]
    list_display_links = None  # the id column links itself (beside its copy button)
    list_filter = ["kind"]
    search_fields = ["id", "memo", "reference", "actor_label"]
    date_hierarchy = "created_at"
    inlines = [LedgerEntryInline]
    fields = [
        "id",
        "kind",
        "when",
        "memo",
        "partner_description",
        "actor_label",
        "reference",
        "undoes",
        "undone_by",
        "lease_id",
        "period",
    ]
    readonly_fields = fields

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("reverses")
            .annotate(
                moved_cents=Sum("entries__amount_cents", filter=Q(entries__amount_cents__gt=0))
            )
        )

    def get_changelist(self, request, **kwargs):
        return TransactionChangeList

    @admin.display(description="transaction", ordering="id")
    def transaction_id(self, obj):
        url = reverse("admin:billing_ledgertransaction_change", args=[quote(obj.pk)])
        return short_id(obj.pk, row_url(obj, url))

    @admin.display(description="time (Los Angeles)", ordering="created_at")
    def when_listed(self, obj):
        return local_time(obj.created_at)

    @admin.display(description="amount", ordering="moved_cents")
    def amount(self, obj):
        """What moved: the sum of the legs that received money."""
        return dollars(obj.moved_cents or 0)

    @admin.display(description="memo · partner sees")
    def why(self, obj):
        """Both texts, each cut to a line's worth (the whole text on hover and on the
        transaction's page), so a 500-character memo cannot widen the list."""
        memo = format_html('<span title="{}">{}</span>', obj.memo, _cut(obj.memo))
        if not obj.partner_description or obj.partner_description == obj.memo:
            return memo
        return format_html(
            '{}<br><span class="quiet" title="{}">{}</span>',
            memo,
            obj.partner_description,
            _cut(obj.partner_description),
        )

    @admin.display(description="by", ordering="actor_label")
    def by(self, obj):
        return obj.actor_label

    @admin.display(description="reference", ordering="reference")
    def ref(self, obj):
        return short_id(obj.reference) if obj.reference else "—"

    @admin.display(description="time")
    def when(self, obj):
        return _local_and_utc(obj.created_at)

    @admin.display(description="undoes")
    def undoes(self, obj):
        """A refund names the charge it gives back; a voided top-up, its top-up."""
        return _transaction_link(obj.reverses) if obj.reverses_id else "—"

    @admin.display(description="undone by")
    def undone_by(self, obj):
        """A refunded charge (or voided top-up) names its refund (or void)."""
        undo = LedgerTransaction.objects.filter(reverses=obj).first()
        return _transaction_link(undo) if undo is not None else "—"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """To those who may move money, a charge or renewal not yet refunded offers
        "Refund this charge" (the wallet's refund form, with it chosen), and a top-up not
        yet voided offers "Void this top-up"."""
        txn = self.get_object(request, unquote(object_id))
        refund_url = void_url = None
        if (
            txn is not None
            and txn.kind in [*LEASE_CHARGE_KINDS, TransactionKind.FUNDING]
            and request.user.has_perm(MOVE_MONEY)
            and not LedgerTransaction.objects.filter(reverses=txn).exists()
        ):
            wallet = Wallet.objects.filter(entries__transaction=txn).first()
            if wallet is not None and txn.kind == TransactionKind.FUNDING:
                void_url = reverse("admin:billing_wallet_void", args=[wallet.pk, txn.pk])
            elif wallet is not None:
                url = reverse("admin:billing_wallet_refund", args=[wallet.pk])
                refund_url = f"{url}?charge={txn.pk}"
        extra_context = {**(extra_context or {}), "refund_url": refund_url, "void_url": void_url}
        return super().change_view(request, object_id, form_url, extra_context)


class CreatedBetweenFilter(admin.ListFilter):
    """Entries from one date to another, both included, in America/Los_Angeles.

    Dates that cannot be read or are out of reach list nothing: the form's errors show
    in the filter and ``LedgerEntryAdmin.changelist_view`` says why above the list."""

    title = "date (America/Los_Angeles)"
    template = "admin/billing/date_range_filter.html"
    parameters = ("created_from", "created_to")

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name in self.parameters:
            if name in params:
                raw = params.pop(name)
                self.used_parameters[name] = raw[-1] if isinstance(raw, list) else raw
        self.form = LedgerDatesForm(self.used_parameters)

    def has_output(self):
        return True

    def expected_parameters(self):
        return list(self.parameters)

    def queryset(self, request, queryset):
        if not self.form.is_valid():
            return queryset.none()
        start, end = self.form.bounds(FINANCE_TZ)
        if start:
            queryset = queryset.filter(created_at__gte=start)
        if end:
            queryset = queryset.filter(created_at__lt=end)
        return queryset

    def choices(self, changelist):
        keep = {k: v for k, v in changelist.params.items() if k not in self.parameters}
        yield {
            "created_from": self.used_parameters.get("created_from", ""),
            "created_to": self.used_parameters.get("created_to", ""),
            "form": self.form,
            "keep": sorted(keep.items()),
            "clear_url": changelist.get_query_string(remove=list(self.parameters)),
        }


class ActorFilter(admin.SimpleListFilter):
    title = "actor"
    parameter_name = "actor"

    def lookups(self, request, model_admin):
        labels = (
            LedgerTransaction.objects.order_by("actor_label")
            .values_list("actor_label", flat=True)
            .distinct()
        )
        return [(label, label) for label in labels]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(transaction__actor_label=self.value())
        return queryset


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "when",
        "account_name",
        "kind",
        "amount",
        "balance_after",
        "memo",
        "reference",
    ]
    list_display_links = ["when"]
    fields = [
        "entry_id",
        "when_full",
        "account_name",
        "transaction_link",
        "amount",
        "balance_after",
        "memo_full",
        "reference",
    ]
    readonly_fields = fields
    list_select_related = ["account__organization", "transaction"]
    list_filter = [
        ("account__organization", admin.RelatedOnlyFieldListFilter),
        "transaction__kind",
        CreatedBetweenFilter,
        ActorFilter,
        "account__kind",
    ]
    search_fields = ["transaction__reference", "=transaction__id"]
    search_help_text = "Search by reference (e.g. a wire number or lreq_ id) or transaction id."
    actions = ["export_csv"]
    list_per_page = 100

    @admin.display(description="account")
    def account_name(self, obj):
        """A wallet by its organization; a system account by its name."""
        organization = obj.account.organization
        return f"{organization} (wallet)" if organization else obj.account.get_kind_display()

    @admin.display(description="kind · by", ordering="transaction__kind")
    def kind(self, obj):
        return format_html(
            '{}<br><span class="quiet">{}</span>',
            obj.transaction.get_kind_display(),
            obj.transaction.actor_label,
        )

    @admin.display(description="entry")
    def entry_id(self, obj):
        return short_id(obj.public_id)

    @admin.display(description="time")
    def when_full(self, obj):
        return _local_and_utc(obj.created_at)

    @admin.display(description="transaction")
    def transaction_link(self, obj):
        return _transaction_link(obj.transaction)

    @admin.display(description="memo")
    def memo_full(self, obj):
        return obj.transaction.memo

    @admin.display(description="amount", ordering="amount_cents")
    def amount(self, obj):
        return dollars(obj.amount_cents)

    @admin.display(description="balance after")
    def balance_after(self, obj):
        return dollars(obj.balance_after_cents)

    @admin.display(description="time (Los Angeles)", ordering="created_at")
    def when(self, obj):
        return local_time(obj.created_at)

    @admin.display(description="memo")
    def memo(self, obj):
        memo = obj.transaction.memo
        return format_html('<span title="{}">{}</span>', memo, _cut(memo, 40))

    @admin.display(description="reference")
    def reference(self, obj):
        return short_id(obj.transaction.reference) if obj.transaction.reference else "—"

    def get_urls(self):
        return [
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="billing_ledgerentry_export",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        problems = LedgerDatesForm(request.GET).problems()
        if problems:
            messages.error(
                request, f"{problems} Nothing is listed until the dates are fixed (or cleared)."
            )
        extra_context = {**(extra_context or {}), "dates_problem": problems}
        return super().changelist_view(request, extra_context)

    def export_view(self, request):
        """Every entry the changelist shows for this query string (filters, search), all
        pages, streamed oldest first through the one safe CSV writer. Dates the list
        cannot filter on send finance back to the list, which says why."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not LedgerDatesForm(request.GET).is_valid():
            changelist = reverse("admin:billing_ledgerentry_changelist")
            return HttpResponseRedirect(f"{changelist}?{request.GET.urlencode()}")
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(reverse("admin:billing_ledgerentry_changelist") + "?e=1")
        return _ledger_csv(changelist.queryset)

    @admin.action(description="Export selected entries as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        return _ledger_csv(queryset)


LEDGER_CSV_HEADER = [
    "time_utc",
    "time_america_los_angeles",
    "transaction_id",
    "kind",
    "organization_id",
    "organization",
    "account",
    "amount_cents",
    "amount_usd",
    "balance_after_cents",
    "balance_after_usd",
    "actor",
    "memo",
    "reference",
    "partner_description",
]


def _ledger_csv(queryset):
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    entries = queryset.select_related("transaction", "account__organization").order_by("pk")
    return csv_response(f"ledger-{stamp}.csv", LEDGER_CSV_HEADER, _ledger_rows(entries))


def _ledger_rows(entries):
    for entry in entries.iterator(chunk_size=2000):
        organization = entry.account.organization
        yield [
            *_csv_times(entry.created_at),
            entry.transaction_id,
            entry.transaction.kind,
            organization.pk if organization else "",
            organization.name if organization else "",
            entry.account.kind,
            *_csv_money(entry.amount_cents),
            *_csv_money(entry.balance_after_cents),
            entry.transaction.actor_label,
            entry.transaction.memo,
            entry.transaction.reference,
            entry.transaction.partner_description,
        ]
