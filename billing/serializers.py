"""Shapes of the wallet endpoints of the partner API."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from layers_ops.api.fields import Timestamp

from .models import TransactionKind
from .selectors import FINANCE_TZ_NAME, partner_visible_memo

BILLING_TIMEZONES = [FINANCE_TZ_NAME]  # the one time zone billing months are counted in


class PartnerMemoField(serializers.CharField):
    """A ledger entry's text as the partner reads it (``partner_visible_memo``)."""

    def __init__(self, **kwargs):
        super().__init__(source="transaction", **kwargs)

    def to_representation(self, value):
        return partner_visible_memo(value)


class SandboxTopUpIn(serializers.Serializer):
    amountCents = serializers.IntegerField(
        min_value=1,
        max_value=1_000_000,
        help_text="Test money to add, in US cents: 1 to 1000000 ($10,000) per call.",
    )


class WalletOut(serializers.Serializer):
    organizationId = serializers.CharField(source="organization_id")
    balanceCents = serializers.IntegerField(source="balance_cents")
    currency = serializers.CharField(help_text="ISO 4217; always USD today.")
    activeLeases = serializers.IntegerField(
        source="active_leases", help_text="Leased accounts assigned now, past due included."
    )
    monthlyBurnCents = serializers.IntegerField(
        source="monthly_burn_cents", help_text="What those leases cost a month together."
    )
    accountsCovered = serializers.IntegerField(
        source="accounts_covered",
        help_text="Account-months the balance pays for at the list price "
        "(balanceCents // the price of one account-month).",
    )
    runwayDays = serializers.IntegerField(
        source="runway_days",
        allow_null=True,
        help_text="Days from today (UTC) to the day a renewal falls due that the balance "
        "cannot pay, paying every lease's monthly renewals in time order; null when nothing "
        "renews, or beyond two years.",
    )


class LedgerEntryOut(serializers.Serializer):
    entryId = serializers.CharField(source="public_id")
    transactionId = serializers.CharField(source="transaction_id")
    kind = serializers.ChoiceField(source="transaction.kind", choices=TransactionKind.choices)
    amountCents = serializers.IntegerField(
        source="amount_cents", help_text="Into (+) or out of (-) your wallet."
    )
    balanceAfterCents = serializers.IntegerField(source="balance_after_cents")
    memo = PartnerMemoField(
        help_text="What the movement is, as Layers describes it to you, e.g. "
        "'Renewal @handle, month 2', 'Wallet top-up', 'Refund: Lease @handle, first month'."
    )
    reference = serializers.CharField(
        source="transaction.reference",
        help_text="What it is for: the leased account (sa_) for a renewal, the request for "
        "a first month, the wire or invoice number for a top-up, the transaction (txn_) a "
        "refund or voided top-up undoes.",
    )
    createdAt = Timestamp(source="created_at")


class LedgerEntryPage(serializers.Serializer):
    items = LedgerEntryOut(many=True)
    nextCursor = serializers.CharField(allow_null=True)


class StatementTotalsOut(serializers.Serializer):
    topUpsCents = serializers.IntegerField(help_text="Money received (funding).")
    topUpVoidsCents = serializers.IntegerField(
        help_text="Top-ups recorded by mistake and taken back (negative)."
    )
    chargesCents = serializers.IntegerField(help_text="First months of leases (negative).")
    renewalsCents = serializers.IntegerField(help_text="Later months of leases (negative).")
    refundsCents = serializers.IntegerField(help_text="Reversals: charges given back.")
    adjustmentsCents = serializers.IntegerField(help_text="Corrections, up or down.")


class WalletStatementOut(serializers.Serializer):
    organizationId = serializers.CharField(source="organization.pk")
    month = serializers.CharField(
        source="month_label", help_text="YYYY-MM, a calendar month in America/Los_Angeles."
    )
    timezone = serializers.ChoiceField(
        source="timezone_name",
        choices=BILLING_TIMEZONES,
        help_text="The time zone whose midnight on the 1st starts and ends the month.",
    )
    openingBalanceCents = serializers.IntegerField(
        source="opening_cents", help_text="The balance at the month's first instant."
    )
    closingBalanceCents = serializers.IntegerField(
        source="closing_cents",
        help_text="The balance at the month's end (so far, for this month): the opening "
        "balance plus the six totals.",
    )
    totals = serializers.SerializerMethodField()
    entries = serializers.SerializerMethodField()

    @extend_schema_field(StatementTotalsOut)
    def get_totals(self, statement):
        return {
            "topUpsCents": statement.total_cents(TransactionKind.FUNDING),
            "topUpVoidsCents": statement.total_cents(TransactionKind.TOP_UP_VOID),
            "chargesCents": statement.total_cents(TransactionKind.CHARGE),
            "renewalsCents": statement.total_cents(TransactionKind.RENEWAL),
            "refundsCents": statement.total_cents(TransactionKind.REVERSAL),
            "adjustmentsCents": statement.total_cents(TransactionKind.ADJUSTMENT),
        }

    @extend_schema_field(LedgerEntryOut(many=True))
    def get_entries(self, statement):
        """The month's wallet entries, oldest first, as ``/v1/wallet/ledger`` shows them."""
        return LedgerEntryOut([line.entry for line in statement.lines], many=True).data
