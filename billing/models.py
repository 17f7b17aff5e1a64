"""Prepaid wallets on a double-entry ledger, in integer US cents.

Every money movement is one LedgerTransaction whose LedgerEntry rows sum to zero.
Entries and transactions are append-only (PostgreSQL triggers refuse UPDATE and DELETE);
a mistake is fixed by a reversing transaction. ``billing.services`` is the
only code that writes here.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from layers_ops.ids import prefixed_ulid
from layers_ops.partners.models import Organization

from .money import dollars


def new_transaction_id() -> str:
    return prefixed_ulid("txn")


def new_entry_id() -> str:
    return prefixed_ulid("le")


class AccountKind(models.TextChoices):
    WALLET = "wallet", "Partner wallet"
    REVENUE = "revenue", "Leasing revenue"
    FUNDING = "funding", "Funding (money received from partners)"
    ADJUSTMENTS = "adjustments", "Adjustments"


class LedgerAccount(models.Model):
    """A wallet (one per organization) or one of the system accounts it trades with."""

    kind = models.CharField(max_length=16, choices=AccountKind.choices)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(max_length=3, default="USD", editable=False)
    balance_cents = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    low_runway_since = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Since when the balance pays for under WALLET_LOW_RUNWAY_DAYS of renewals "
        "(wallet.low_balance was sent then); empty while it pays for longer.",
    )

    class Meta:
        ordering = ["kind", "organization__name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=AccountKind.values), name="ledger_account_kind_valid"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=AccountKind.WALLET, organization__isnull=False)
                    | (~Q(kind=AccountKind.WALLET) & Q(organization__isnull=True))
                ),
                name="ledger_account_wallets_belong_to_an_org",
            ),
            models.CheckConstraint(
                condition=~Q(kind=AccountKind.WALLET) | Q(balance_cents__gte=0),
                name="wallet_balance_never_negative",
            ),
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(kind=AccountKind.WALLET),
                name="one_wallet_per_org",
            ),
            models.UniqueConstraint(
                fields=["kind"],
                condition=Q(organization__isnull=True),
                name="one_system_account_per_kind",
            ),
        ]

    def __str__(self) -> str:
        if self.kind == AccountKind.WALLET:
            return f"Wallet of {self.organization}"
        return self.get_kind_display()


class WalletManager(models.Manager):
    def get_queryset(self):
        return super().get_queryset().filter(kind=AccountKind.WALLET)


class Wallet(LedgerAccount):
    """The partner-facing view of a wallet account."""

    objects = WalletManager()

    class Meta:
        proxy = True
        permissions = [("move_money", "Can record top-ups and adjustments on wallets")]


class TransactionKind(models.TextChoices):
    FUNDING = "funding", "Funding (top-up)"
    CHARGE = "charge", "Lease charge (first month)"
    RENEWAL = "renewal", "Lease renewal"
    ADJUSTMENT = "adjustment", "Adjustment"
    REVERSAL = "reversal", "Reversal"
    TOP_UP_VOID = "top_up_void", "Voided top-up"


# Kinds that undo another transaction, linked to it by ``reverses``: a reversal (a
# refunded charge, an undone adjustment) or a voided top-up. Neither is undone again.
UNDOING_KINDS = [TransactionKind.REVERSAL, TransactionKind.TOP_UP_VOID]


# Charges for a lease month: at most one transaction per (lease, period).
LEASE_CHARGE_KINDS = [TransactionKind.CHARGE, TransactionKind.RENEWAL]


class LedgerTransaction(models.Model):
    id = models.CharField(primary_key=True, max_length=30, default=new_transaction_id)
    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    memo = models.CharField(
        max_length=500,
        blank=True,
        help_text="The internal reason, for staff only; partners never see it.",
    )
    partner_description = models.CharField(
        max_length=500,
        blank=True,
        help_text="What the partner sees for this movement (API ledger, partner statements).",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    actor_label = models.CharField(
        max_length=150, help_text="Who moved the money: a username, or 'system'."
    )
    reference = models.CharField(
        max_length=100, blank=True, help_text="What it is for: a request, lease or wallet id."
    )
    dedupe_key = models.CharField(
        max_length=120,
        null=True,
        blank=True,
        unique=True,
        help_text="Makes a charge happen at most once, e.g. one per lease per period.",
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    lease_id = models.BigIntegerField(
        null=True, blank=True, help_text="The lease a charge or renewal is for."
    )
    period = models.PositiveIntegerField(
        null=True, blank=True, help_text="Which monthly period of the lease (0 = first month)."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=TransactionKind.values), name="ledger_transaction_kind_valid"
            ),
            models.CheckConstraint(
                condition=~Q(kind__in=LEASE_CHARGE_KINDS)
                | Q(lease_id__isnull=False, period__isnull=False),
                name="ledger_lease_charge_names_lease_and_period",
            ),
            models.UniqueConstraint(
                fields=["lease_id", "period"],
                condition=Q(kind__in=LEASE_CHARGE_KINDS),
                name="one_charge_per_lease_period",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=UNDOING_KINDS) | Q(reverses__isnull=True),
                name="only_reversals_reverse",
            ),
            models.CheckConstraint(
                condition=~Q(kind=TransactionKind.TOP_UP_VOID) | Q(reverses__isnull=False),
                name="top_up_void_names_its_top_up",
            ),
        ]
        indexes = [models.Index(fields=["lease_id"], name="ledger_transaction_lease")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.id}"


class LedgerEntry(models.Model):
    """One leg of a transaction: money into (+) or out of (-) one account."""

    public_id = models.CharField(
        max_length=30,
        unique=True,
        default=new_entry_id,
        editable=False,
        help_text="The entryId partners see (le_<ULID>); the row id would reveal volume.",
    )
    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="entries"
    )
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="entries")
    amount_cents = models.BigIntegerField()
    balance_after_cents = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["account", "-id"], name="ledger_entry_account_recent"),
            models.Index(
                fields=["account", "-created_at", "-public_id"], name="ledger_entry_account_page"
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_cents=0), name="ledger_entry_nonzero")
        ]

    def __str__(self) -> str:
        sign = "+" if self.amount_cents > 0 else ""
        return f"{sign}{dollars(self.amount_cents)} on {self.account}"


class ReconciliationRun(models.Model):
    """One run of the reconciliation checks (the console's page or ``verify_ledger``):
    when, from where and what it found, so the finance home can say when the books were
    last checked and whether they were clean."""

    ran_at = models.DateTimeField(auto_now_add=True, db_index=True)
    source = models.CharField(max_length=16)  # "console", "command" or "schedule"
    actor_label = models.CharField(max_length=150, blank=True)
    problem_count = models.PositiveIntegerField()
    broken_checks = models.JSONField(default=list)  # names of the checks that failed

    class Meta:
        ordering = ["-ran_at", "-pk"]

    def __str__(self) -> str:
        return f"Reconciliation {self.ran_at:%Y-%m-%d %H:%M}: {self.result}"

    @property
    def clean(self) -> bool:
        return self.problem_count == 0

    @property
    def result(self) -> str:
        if self.clean:
            return "clean"
        return f"{self.problem_count} problem{'' if self.problem_count == 1 else 's'}"
