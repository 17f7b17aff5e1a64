import datetime

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from layers_ops.csv_export import csv_response

from .forms import MoneyMovementForm
from .models import LedgerEntry, LedgerTransaction, Wallet
from .services import BillingError, wallet_adjust, wallet_fund, wallet_get_or_create


class ReadOnlyAdmin(admin.ModelAdmin):
    """History must not change: no add, change or delete, whoever asks."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Wallet)
class WalletAdmin(ReadOnlyAdmin):
    list_display = ["organization", "balance", "currency", "entry_count", "created_at"]
    list_select_related = ["organization"]
    search_fields = ["organization__name", "organization__id"]
    readonly_fields = ["organization", "balance", "currency", "created_at"]
    fields = readonly_fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(entry_count=Count("entries"))

    @admin.display(description="balance (USD)", ordering="balance_cents")
    def balance(self, obj):
        return f"{obj.balance_cents / 100:,.2f}"

    @admin.display(description="entries", ordering="entry_count")
    def entry_count(self, obj):
        return obj.entry_count

    def get_urls(self):
        return [
            path(
                "move-money/",
                self.admin_site.admin_view(self.move_money_view),
                name="billing_wallet_move_money",
            ),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_move_money": self._can_move(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "can_move_money": self._can_move(request)}
        return super().change_view(request, object_id, form_url, extra_context)

    def _can_move(self, request) -> bool:
        return request.user.has_perm("billing.move_money")

    def move_money_view(self, request):
        """Record a top-up or an adjustment: one ledger transaction, by the signed-in user."""
        if not self._can_move(request):
            raise PermissionDenied
        form = MoneyMovementForm(request.POST or None, initial=request.GET.dict())
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            record = wallet_fund if data["kind"] == MoneyMovementForm.TOP_UP else wallet_adjust
            try:
                txn = record(
                    organization=data["organization"],
                    amount_cents=form.amount_cents,
                    actor=request.user,
                    memo=data["memo"],
                    reference=data["reference"],
                )
            except BillingError as exc:
                form.add_error(None, str(exc))
            else:
                wallet = wallet_get_or_create(organization=data["organization"])
                self.log_change(request, wallet, f"{txn.get_kind_display()} {txn.pk}")
                self.message_user(
                    request,
                    f"Recorded {txn.get_kind_display().lower()} of "
                    f"${form.amount_cents / 100:,.2f} for {wallet.organization}: balance now "
                    f"${wallet.balance_cents / 100:,.2f}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:billing_wallet_change", args=[wallet.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Record a top-up or adjustment",
            "form": form,
            "opts": self.opts,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/billing/wallet/move_money.html", context)


class LedgerEntryInline(admin.TabularInline):
    model = LedgerEntry
    fields = ["account", "amount_cents", "balance_after_cents"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ["id", "kind", "memo", "actor_label", "reference", "created_at"]
    list_filter = ["kind"]
    search_fields = ["id", "memo", "reference", "actor_label"]
    date_hierarchy = "created_at"
    inlines = [LedgerEntryInline]


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "account",
        "amount_cents",
        "balance_after_cents",
        "transaction",
        "kind",
    ]
    list_select_related = ["account__organization", "transaction"]
    list_filter = ["account__kind", "transaction__kind", "account__organization"]
    search_fields = ["account__organization__name", "transaction__id", "transaction__reference"]
    date_hierarchy = "created_at"
    actions = ["export_csv"]

    @admin.display(description="kind", ordering="transaction__kind")
    def kind(self, obj):
        return obj.transaction.get_kind_display()

    @admin.action(description="Export selected entries as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        """One row per entry, oldest first, in UTC; select all to export a filtered view."""
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        entries = queryset.select_related("transaction", "account__organization").order_by("pk")
        return csv_response(f"ledger-{stamp}.csv", LEDGER_CSV_HEADER, _ledger_rows(entries))


LEDGER_CSV_HEADER = [
    "time_utc",
    "transaction_id",
    "kind",
    "organization_id",
    "organization",
    "account",
    "amount_cents",
    "balance_after_cents",
    "actor",
    "memo",
    "reference",
]


def _ledger_rows(entries):
    for entry in entries.iterator(chunk_size=2000):
        organization = entry.account.organization
        yield [
            entry.created_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            entry.transaction_id,
            entry.transaction.kind,
            organization.pk if organization else "",
            organization.name if organization else "",
            entry.account.kind,
            entry.amount_cents,
            entry.balance_after_cents,
            entry.transaction.actor_label,
            entry.transaction.memo,
            entry.transaction.reference,
        ]
