"""Reads of wallets and the ledger."""

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.utils import timezone

from layers_ops.partners.models import KeyEnvironment, Organization

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


def live_wallets() -> QuerySet[Wallet]:
    """The wallets of live organizations: test-mode (sandbox) money is never in a money
    report, a total or a gauge."""
    return Wallet.objects.filter(organization__environment=KeyEnvironment.LIVE)


def live_money(transaction_ref="transaction") -> Q:
    """Ledger rows (entries by default) whose transaction moved no sandbox wallet: what
    live money totals count. The system accounts (revenue, funding) are shared, so the
    transaction's wallet leg tells test money apart."""
    return ~Q(
        Exists(
            LedgerEntry.objects.filter(
                transaction=OuterRef(transaction_ref),
                account__organization__environment=KeyEnvironment.TEST,
            )
        )
    )


def wallet_balance_cents(*, organization_id: str) -> int:
    """The wallet's balance; an organization that was never funded has 0."""
    return next(iter(_balance(organization_id)), 0)


def wallet_balance_of(organization_ref) -> Coalesce:
    """An expression for the balance of the wallet of ``organization_ref`` (0 if none),
    to annotate another query with instead of reading the wallet separately."""
    return Coalesce(Subquery(_balance(organization_ref)), Value(0))


def wallet_balance_sql(organization_column: str) -> str:
    """``wallet_balance_of`` as SQL text, for a statement written by hand around it
    (``leasing.services.requests.lease_request_queue``); ``organization_column`` names
    the organization's id in the outer query."""
    return (
        f"COALESCE((SELECT w.balance_cents FROM {LedgerAccount._meta.db_table} w "
        f"WHERE w.kind = '{AccountKind.WALLET.value}' "
        f"AND w.organization_id = {organization_column} LIMIT 1), 0)"
    )


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


# A billing month is a calendar month in America/Los_Angeles (finance closes months in
# San Francisco) on every screen: finance's statement, the CSV exports and the partner's
# statement; whatever the server's time zone. Instants are stored and sent in UTC.
FINANCE_TZ = ZoneInfo("America/Los_Angeles")
FINANCE_TZ_NAME = "America/Los_Angeles"

# The first month a statement can be asked for; earlier than any organization.
FIRST_BILLING_MONTH = (2000, 1)
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")


class MonthNotValid(ValueError):
    """A month no statement can be made for; the message says why, to a person."""


def billing_month_current(now: datetime | None = None) -> tuple[int, int]:
    """This month in America/Los_Angeles."""
    today = (now or timezone.now()).astimezone(FINANCE_TZ)
    return today.year, today.month


def billing_month_parse(raw: str, *, now: datetime | None = None) -> tuple[int, int]:
    """``YYYY-MM`` as (year, month): from 2000-01 to this month in Los Angeles (a month
    in progress is its statement so far; a future one has none). ``MonthNotValid``
    otherwise, the same rule for finance's page and the partner's API."""
    match = _MONTH.fullmatch(raw)
    if match is None:
        shown = raw if len(raw) <= 24 else raw[:23] + "…"
        raise MonthNotValid(f"Month must be written YYYY-MM, e.g. 2026-10; “{shown}” is not.")
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise MonthNotValid(f"Month {raw}: the month number must be 01 to 12.")
    first, current = FIRST_BILLING_MONTH, billing_month_current(now)
    if (year, month) < first:
        raise MonthNotValid(f"Month {raw} is before {first[0]}-{first[1]:02d}: no statements.")
    if (year, month) > current:
        raise MonthNotValid(
            f"Month {raw} is in the future: the latest statement is "
            f"{current[0]}-{current[1]:02d} (this month in Los Angeles, so far)."
        )
    return year, month


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


def partner_visible_memo(transaction: LedgerTransaction) -> str:
    """The text a partner reads for a ledger transaction (the API's ledger and statements):
    its partner-facing description, never ``memo``, finance's internal reason."""
    return transaction.partner_description


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
    # The wallet entry itself (its transaction loaded), for the partner's API.
    entry: LedgerEntry = field(repr=False, compare=False)
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
    timezone_name: str = FINANCE_TZ_NAME

    @property
    def month_label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

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
    """The organization's wallet statement for a calendar month (America/Los_Angeles):
    what finance's statement page and CSV show, and the partner's
    ``GET /v1/wallet/statements/{month}``. Two queries."""
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
                entry=entry,
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
    current month last; months with nothing are zero; live money only. One query."""
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
            live_money(),
            account__kind=AccountKind.REVENUE,
            created_at__gte=since,
            created_at__lt=until,
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


@dataclass(frozen=True)
class BalanceHistory:
    """A wallet's balance over a period, as steps: it holds each value until the next
    point. ``by_day``: more entries than a chart can show, so one point per day (its
    closing balance, days in America/Los_Angeles)."""

    points: list[tuple[datetime, int]]
    since: datetime
    until: datetime
    entries: int
    by_day: bool


def balance_history(
    *,
    wallet: LedgerAccount,
    since: datetime | None = None,
    until: datetime | None = None,
    max_points: int = 500,
) -> BalanceHistory:
    """The balance from ``since`` (default: the wallet's first entry) to ``until``
    (default: now): the balance at the start, then after each entry (or each day's last
    entry, past ``max_points`` entries), then the balance at the end. Two or three
    queries whatever the history's length."""
    until = until or timezone.now()
    upto = wallet.entries.filter(created_at__lte=until)
    whole = since is None  # from the first entry: no balance before it to show
    if whole:
        since = upto.order_by("pk").values_list("created_at", flat=True).first() or min(
            wallet.created_at, until
        )
    opening = (
        wallet.entries.filter(created_at__lt=since)
        .order_by("-pk")
        .values_list("balance_after_cents", flat=True)
        .first()
    ) or 0
    in_range = upto.filter(created_at__gte=since)
    count = in_range.count()
    if count <= max_points:
        rows = list(in_range.order_by("pk").values_list("created_at", "balance_after_cents"))
    else:
        rows = [
            (at, balance)
            for _, at, balance in in_range.annotate(day=TruncDate("created_at", tzinfo=FINANCE_TZ))
            .order_by("day", "-pk")
            .distinct("day")
            .values_list("day", "created_at", "balance_after_cents")
        ]
    closing = rows[-1][1] if rows else opening
    points = [*([] if whole and rows else [(since, opening)]), *rows, (until, closing)]
    return BalanceHistory(
        points=points, since=since, until=until, entries=count, by_day=count > max_points
    )


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
