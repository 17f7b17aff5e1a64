"""Shapes of the wallet endpoints of the partner API."""

from rest_framework import serializers

from layers_ops.api.fields import Timestamp

from .models import TransactionKind


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
        help_text="Days until a renewal falls due that the balance cannot pay, walking "
        "every lease's renewals in time order; null when nothing renews, or beyond two years.",
    )


class LedgerEntryOut(serializers.Serializer):
    entryId = serializers.CharField(source="public_id")
    transactionId = serializers.CharField(source="transaction_id")
    kind = serializers.ChoiceField(source="transaction.kind", choices=TransactionKind.choices)
    amountCents = serializers.IntegerField(
        source="amount_cents", help_text="Into (+) or out of (-) your wallet."
    )
    balanceAfterCents = serializers.IntegerField(source="balance_after_cents")
    memo = serializers.CharField(
        source="transaction.partner_description",
        help_text="What the movement is, as Layers describes it to you, e.g. "
        "'Renewal @handle, month 2', 'Wallet top-up', 'Refund: Lease @handle, first month'.",
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
