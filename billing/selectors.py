"""Reads of wallets and the ledger."""

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from layers_ops.partners.models import Organization

from .models import (
    LEASE_CHARGE_KINDS,
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
    Wallet,
)


@dataclass(frozen=True)
class Mismatch:
    account: LedgerAccount
    stored_cents: int
    entries_cents: int


def _balance(organization_ref):
    return (
        Wallet.objects.filter(organization_id=organization_ref)
        .order_by()
        .values_list("balance_cents", flat=True)[:1]
    )


def wallet_balance_cents(*, organization_id: str) -> int:
    """The wallet's balance; an organization that was never funded has 0."""
    return next(iter(_balance(organization_id)), 0)


def wallet_balance_of(organization_ref) -> Coalesce:
    """An expression for the balance of the wallet of ``organization_ref`` (0 if none),
    to annotate another query with instead of reading the wallet separately."""
    return Coalesce(Subquery(_balance(organization_ref)), Value(0))


def ledger_verify() -> list[Mismatch]:
    """Accounts whose stored balance differs from the sum of their entries (want: none)."""
    sums = dict(
        LedgerEntry.objects.values_list("account").annotate(total=Sum("amount_cents")).order_by()
    )
    return [
        Mismatch(
            account=account,
            stored_cents=account.balance_cents,
            entries_cents=sums.get(account.pk, 0),
        )
        for account in LedgerAccount.objects.select_related("organization")
        if account.balance_cents != sums.get(account.pk, 0)
    ]


# Finance closes months in the company's time zone (San Francisco), whatever the server's.
FINANCE_TZ = ZoneInfo("America/Los_Angeles")

# The statement's sections, in the order finance reads them: kind -> heading.
STATEMENT_SECTIONS = {
    TransactionKind.FUNDING: "Top-ups",
    TransactionKind.TOP_UP_VOID: "Voided top-ups",
    TransactionKind.CHARGE: "First-month charges",
    TransactionKind.RENEWAL: "Renewals",
    TransactionKind.REVERSAL: "Refunds (reversals)",
    TransactionKind.ADJUSTMENT: "Adjustments",
}


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The calendar month in America/Los_Angeles, as [start, end) aware datetimes."""
    start = datetime(year, month, 1, tzinfo=FINANCE_TZ)
    following = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=FINANCE_TZ)
    return start, following


@dataclass(frozen=True)
class StatementLine:
    at: datetime
    transaction_id: str
    kind: str
    memo: str
    reference: str
    actor: str
    amount_cents: int
    balance_after_cents: int
    description: str = ""  # what the partner reads; ``memo`` is the internal reason


@dataclass(frozen=True)
class StatementSection:
    kind: str
    heading: str
    lines: list[StatementLine]

    @property
    def total_cents(self) -> int:
        return sum(line.amount_cents for line in self.lines)


@dataclass(frozen=True)
class Statement:
    """A wallet's month: opening balance, the movements by kind, closing balance.

    ``opening_cents`` and ``closing_cents`` are each the sum of the wallet's entries
    before the month's start and end, read separately from the lines, so
    ``is_balanced`` is a real check that opening plus movements equals closing.
    """

    organization: Organization
    year: int
    month: int
    starts_at: datetime
    ends_at: datetime
    opening_cents: int
    closing_cents: int
    sections: list[StatementSection]
    timezone_name: str = "America/Los_Angeles"

    @property
    def movements_cents(self) -> int:
        return sum(section.total_cents for section in self.sections)

    @property
    def is_balanced(self) -> bool:
        return self.opening_cents + self.movements_cents == self.closing_cents

    @property
    def lines(self) -> list[StatementLine]:
        return sorted(
            (line for section in self.sections for line in section.lines),
            key=lambda line: (line.at, line.transaction_id),
        )

    def total_cents(self, kind: str) -> int:
        return next(s.total_cents for s in self.sections if s.kind == kind)


def statement_for(*, organization: Organization, year: int, month: int) -> Statement:
    """The organization's wallet statement for a calendar month (America/Los_Angeles).
    Three queries."""
    starts_at, ends_at = month_bounds(year, month)
    entries = LedgerEntry.objects.filter(
        account__kind=AccountKind.WALLET, account__organization=organization
    )
    totals = entries.aggregate(
        opening=Coalesce(Sum("amount_cents", filter=Q(created_at__lt=starts_at)), Value(0)),
        closing=Coalesce(Sum("amount_cents", filter=Q(created_at__lt=ends_at)), Value(0)),
    )
    by_kind: dict[str, list[StatementLine]] = {kind: [] for kind in STATEMENT_SECTIONS}
    for entry in (
        entries.filter(created_at__gte=starts_at, created_at__lt=ends_at)
        .select_related("transaction")
        .order_by("created_at", "pk")
    ):
        txn = entry.transaction
        by_kind[txn.kind].append(
            StatementLine(
                at=entry.created_at,
                transaction_id=txn.pk,
                kind=txn.kind,
                memo=txn.memo,
                reference=txn.reference,
                actor=txn.actor_label,
                amount_cents=entry.amount_cents,
                balance_after_cents=entry.balance_after_cents,
                description=txn.partner_description,
            )
        )
    return Statement(
        organization=organization,
        year=year,
        month=month,
        starts_at=starts_at,
        ends_at=ends_at,
        opening_cents=totals["opening"],
        closing_cents=totals["closing"],
        sections=[
            StatementSection(kind=kind, heading=heading, lines=by_kind[kind])
            for kind, heading in STATEMENT_SECTIONS.items()
        ],
    )


@dataclass(frozen=True)
class RevenueMonth:
    year: int
    month: int
    first_month_cents: int  # first-month charges booked to leasing revenue
    renewal_cents: int
    refunded_cents: int  # revenue given back by reversals that month (positive number)

    @property
    def label(self) -> str:
        return date(self.year, self.month, 1).strftime("%b %Y")

    @property
    def charged_cents(self) -> int:
        return self.first_month_cents + self.renewal_cents


def revenue_by_month(*, months: int = 12, now: datetime | None = None) -> list[RevenueMonth]:
    """Leasing revenue per calendar month (America/Los_Angeles), oldest first, the
    current month last; months with nothing are zero. One query."""
    now = (now or timezone.now()).astimezone(FINANCE_TZ)
    keys = []
    year, month = now.year, now.month
    for _ in range(months):
        keys.append((year, month))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    keys.reverse()
    since, _ = month_bounds(*keys[0])
    _, until = month_bounds(*keys[-1])
    rows = (
        LedgerEntry.objects.filter(
            account__kind=AccountKind.REVENUE, created_at__gte=since, created_at__lt=until
        )
        .annotate(month=TruncMonth("created_at", tzinfo=FINANCE_TZ))
        .values("month", "transaction__kind")
        .annotate(total=Sum("amount_cents"))
        .order_by()
        .values_list("month", "transaction__kind", "total")
    )
    sums: dict[tuple[int, int], dict[str, int]] = {key: {} for key in keys}
    for month_start, kind, total in rows:
        month_start = month_start.astimezone(FINANCE_TZ)
        sums[(month_start.year, month_start.month)][kind] = total
    return [
        RevenueMonth(
            year=y,
            month=m,
            first_month_cents=sums[(y, m)].get(TransactionKind.CHARGE, 0),
            renewal_cents=sums[(y, m)].get(TransactionKind.RENEWAL, 0),
            refunded_cents=-sums[(y, m)].get(TransactionKind.REVERSAL, 0),
        )
        for y, m in keys
    ]


def balance_history(*, wallet: LedgerAccount, limit: int = 500) -> list[tuple[datetime, int]]:
    """The wallet's balance after each of its last ``limit`` entries, oldest first."""
    rows = list(
        wallet.entries.order_by("-pk").values_list("created_at", "balance_after_cents")[:limit]
    )
    rows.reverse()
    return rows


def refundable_charges(*, wallet: LedgerAccount, term: str = "") -> QuerySet[LedgerTransaction]:
    """The wallet's charges and renewals not yet refunded, newest first, whose id,
    memo (e.g. ``@handle``) or reference contains ``term``: what the refund form's
    search offers."""
    charges = wallet_charges(wallet=wallet).filter(is_reversed=False)
    term = term.strip()
    if term:
        charges = charges.filter(
            Q(pk__icontains=term) | Q(memo__icontains=term) | Q(reference__icontains=term)
        )
    return charges


def wallet_charges(*, wallet: LedgerAccount) -> QuerySet[LedgerTransaction]:
    """The wallet's charges and renewals, newest first, each with what it took from the
    wallet (``wallet_cents``, negative) and whether it was refunded (``is_reversed``)."""
    return (
        LedgerTransaction.objects.filter(kind__in=LEASE_CHARGE_KINDS, entries__account=wallet)
        .annotate(
            wallet_cents=Sum("entries__amount_cents"),
            is_reversed=Exists(LedgerTransaction.objects.filter(reverses=OuterRef("pk"))),
        )
        .order_by("-created_at", "-pk")
    )
