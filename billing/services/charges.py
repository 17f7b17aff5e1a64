"""Lease charges: the first month on assignment (``lease_charge``) and renewals
(``renewal_charge``), posted in batches by ``lease_charges_post`` with a fixed number of
statements however many leases a batch holds, at most once per (lease, period).

Locks: the wallets and the leasing revenue account, in pk order, after the caller's
leases and accounts (the order ``leasing.services.locks`` describes)."""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Case, Q, Value, When

from ..models import (
    LEASE_CHARGE_KINDS,
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
)
from .alerts import wallets_runway_check
from .errors import BillingError, InsufficientFunds
from .postings import (
    ledger_actor_fields,
    money_movement_check,
    system_account,
)


def charge_dedupe_key(lease_id: int, period: int) -> str:
    return f"lease:{lease_id}:period:{period}"


@dataclass(frozen=True)
class LeaseCharge:
    """One month of one lease, to be paid from its organization's wallet."""

    organization_id: str
    lease_id: int
    period: int  # 0 is the first month (charged on assignment), then renewals
    amount_cents: int
    memo: str = ""  # also what the partner reads: the service writes it, nobody types it
    reference: str = ""

    @property
    def kind(self) -> str:
        return TransactionKind.CHARGE if self.period == 0 else TransactionKind.RENEWAL

    @property
    def dedupe_key(self) -> str:
        return charge_dedupe_key(self.lease_id, self.period)


@dataclass(frozen=True)
class ChargeOutcome:
    posted: dict[tuple[int, int], LedgerTransaction]  # (lease, period) -> transaction
    already_charged: dict[tuple[int, int], LedgerTransaction]
    unpaid: list[LeaseCharge]  # only when ``all_or_nothing`` is False

    def transaction_for(self, charge: LeaseCharge) -> LedgerTransaction | None:
        key = (charge.lease_id, charge.period)
        return self.posted.get(key) or self.already_charged.get(key)


@transaction.atomic
def lease_charges_post(
    *, charges: Sequence[LeaseCharge], actor=None, all_or_nothing: bool = True
) -> ChargeOutcome:
    """Charge lease months to their wallets: one balanced transaction per (lease, period).

    A (lease, period) already charged is not charged again (the ledger's dedupe key and a
    unique constraint guarantee it; the existing transaction is returned). With
    ``all_or_nothing`` a wallet that cannot pay for all of its charges raises
    ``InsufficientFunds`` and nothing is written; without it each wallet pays its
    charges in the order given while it can, and the rest come back as ``unpaid``.
    Statements: a fixed handful per call, however many charges it holds. A wallet the
    charges leave with under ``WALLET_LOW_RUNWAY_DAYS`` of runway tells its partner
    (``alerts.wallets_runway_check``).
    """
    for charge in charges:
        if charge.amount_cents <= 0:
            raise BillingError("A lease charge must be a positive number of cents.")
        money_movement_check(amount_cents=charge.amount_cents)
    # Looked up by the unique dedupe key alone: with the kind in the filter too,
    # PostgreSQL walks the whole partial (lease, period) index instead (200 ms vs 4 ms
    # for 1,000 keys against 300,000 charges).
    existing = {
        (txn.lease_id, txn.period): txn
        for txn in LedgerTransaction.objects.filter(
            dedupe_key__in=[c.dedupe_key for c in charges]
        ).order_by()
        if txn.kind in LEASE_CHARGE_KINDS
    }
    todo, seen = [], set(existing)
    for charge in charges:
        key = (charge.lease_id, charge.period)
        if key not in seen:
            seen.add(key)
            todo.append(charge)
    if not todo:
        return ChargeOutcome(posted={}, already_charged=existing, unpaid=[])

    revenue = system_account(AccountKind.REVENUE)
    organization_ids = sorted({c.organization_id for c in todo})
    locked = list(
        LedgerAccount.objects.select_for_update()
        .filter(Q(kind=AccountKind.WALLET, organization_id__in=organization_ids) | Q(pk=revenue.pk))
        .order_by("pk")
    )
    wallets = {a.organization_id: a for a in locked if a.kind == AccountKind.WALLET}
    revenue = next(a for a in locked if a.pk == revenue.pk)

    if all_or_nothing:
        needed = defaultdict(int)
        for charge in todo:
            needed[charge.organization_id] += charge.amount_cents
        for organization_id, cents in needed.items():
            balance = wallets[organization_id].balance_cents if organization_id in wallets else 0
            if balance < cents:
                raise InsufficientFunds(balance_cents=balance, needed_cents=cents)

    payable, unpaid = [], []
    for charge in todo:
        wallet = wallets.get(charge.organization_id)
        if wallet is None or wallet.balance_cents < charge.amount_cents:
            unpaid.append(charge)
            continue
        wallet.balance_cents -= charge.amount_cents
        payable.append((charge, wallet.balance_cents))
    if not payable:
        return ChargeOutcome(posted={}, already_charged=existing, unpaid=unpaid)

    actor_fields = ledger_actor_fields(actor)
    transactions = LedgerTransaction.objects.bulk_create(
        LedgerTransaction(
            kind=charge.kind,
            memo=charge.memo or _default_charge_memo(charge),
            partner_description=charge.memo or _default_charge_memo(charge),
            reference=charge.reference,
            dedupe_key=charge.dedupe_key,
            lease_id=charge.lease_id,
            period=charge.period,
            **actor_fields,
        )
        for charge, _ in payable
    )
    entries = []
    for (charge, wallet_after), txn in zip(payable, transactions, strict=True):
        revenue.balance_cents += charge.amount_cents
        wallet = wallets[charge.organization_id]
        entries.append(
            LedgerEntry(
                transaction=txn,
                account=wallet,
                amount_cents=-charge.amount_cents,
                balance_after_cents=wallet_after,
            )
        )
        entries.append(
            LedgerEntry(
                transaction=txn,
                account=revenue,
                amount_cents=charge.amount_cents,
                balance_after_cents=revenue.balance_cents,
            )
        )
    LedgerEntry.objects.bulk_create(entries)
    changed = [
        revenue,
        *{id(w): w for w in (wallets[c.organization_id] for c, _ in payable)}.values(),
    ]
    LedgerAccount.objects.filter(pk__in=[a.pk for a in changed]).update(
        balance_cents=Case(*(When(pk=a.pk, then=Value(a.balance_cents)) for a in changed))
    )
    posted = {
        (c.lease_id, c.period): txn for (c, _), txn in zip(payable, transactions, strict=True)
    }
    wallets_runway_check(organization_ids=[c.organization_id for c, _ in payable])
    return ChargeOutcome(posted=posted, already_charged=existing, unpaid=unpaid)


def _default_charge_memo(charge: LeaseCharge) -> str:
    if charge.period == 0:
        return "Leased account, first month"
    return f"Leased account, month {charge.period + 1}"


def lease_charge(
    *, organization_id: str, lease_id: int, amount_cents: int, actor=None, reference: str = ""
) -> LedgerTransaction:
    """The first month of a lease, charged on assignment; at most once per lease."""
    charge = LeaseCharge(
        organization_id=organization_id,
        lease_id=lease_id,
        period=0,
        amount_cents=amount_cents,
        reference=reference,
    )
    return lease_charges_post(charges=[charge], actor=actor).transaction_for(charge)


def renewal_charge(
    *,
    organization_id: str,
    lease_id: int,
    period: int,
    amount_cents: int,
    actor=None,
    reference: str = "",
) -> LedgerTransaction:
    """Month ``period`` (1, 2, ...) of a lease; at most once per lease and period."""
    if period < 1:
        raise BillingError("Renewals start at period 1; period 0 is the first-month charge.")
    charge = LeaseCharge(
        organization_id=organization_id,
        lease_id=lease_id,
        period=period,
        amount_cents=amount_cents,
        reference=reference,
    )
    return lease_charges_post(charges=[charge], actor=actor).transaction_for(charge)
