"""The ledger, read-only: transactions with their entries, and entries filtered by date
and actor, exported as CSV."""

import datetime

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import Q, Sum
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from layers_ops.admin_dates import CheckedDateChangeList, CheckedDateHierarchy
from layers_ops.admin_display import (
    ReadOnlyMixin,
    RowLinksChangeList,
    local_time,
    row_url,
    short_id,
)
from layers_ops.csv_export import csv_response

from ..forms import (
    LedgerDatesForm,
)
from ..models import LEASE_CHARGE_KINDS, LedgerEntry, LedgerTransaction, TransactionKind, Wallet
from ..money import dollars
from ..selectors import (
    FINANCE_TZ,
)
from .shared import MOVE_MONEY, ReadOnlyAdmin, csv_money, csv_times


class LedgerEntryInline(ReadOnlyMixin, admin.TabularInline):
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
            *csv_times(entry.created_at),
            entry.transaction_id,
            entry.transaction.kind,
            organization.pk if organization else "",
            organization.name if organization else "",
            entry.account.kind,
            *csv_money(entry.amount_cents),
            *csv_money(entry.balance_after_cents),
            entry.transaction.actor_label,
            entry.transaction.memo,
            entry.transaction.reference,
            entry.transaction.partner_description,
        ]
