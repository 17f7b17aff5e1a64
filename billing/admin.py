from django.contrib import admin
from django.db.models import Count

from .models import LedgerEntry, LedgerTransaction, Wallet


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
    list_filter = ["account__kind", "transaction__kind"]
    search_fields = ["account__organization__name", "transaction__id", "transaction__reference"]
    date_hierarchy = "created_at"

    @admin.display(description="kind", ordering="transaction__kind")
    def kind(self, obj):
        return obj.transaction.get_kind_display()
