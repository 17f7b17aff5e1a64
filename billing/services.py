"""The only code that moves money.

Each public function is one database transaction that locks the accounts it touches in
primary-key order, checks the wallet can pay, writes balanced LedgerTransactions and
updates the stored balances. Lease charges (first month and renewals) are posted in
batches with a fixed number of statements however many leases a batch holds.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Q, Value, When

from layers_ops.partners.models import Organization, Project, RateLimitTier
from layers_ops.partners.services import (
    DEFAULT_SCOPES,
    IssuedKey,
    api_key_create,
    organization_create,
    project_create,
)
from layers_ops.staff.once import once_take

from .models import (
    LEASE_CHARGE_KINDS,
    UNDOING_KINDS,
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
    Wallet,
)
from .money import dollars

SYSTEM_ACTOR = "system"


class BillingError(Exception):
    """A money rule was broken; the message is safe to show to staff."""


class InsufficientFunds(BillingError):
    def __init__(self, *, balance_cents: int, needed_cents: int):
        self.balance_cents = balance_cents
        self.needed_cents = needed_cents
        self.shortfall_cents = needed_cents - balance_cents
        super().__init__(
            f"The wallet holds {balance_cents / 100:,.2f} USD and this needs "
            f"{needed_cents / 100:,.2f} USD ({self.shortfall_cents / 100:,.2f} USD short)."
        )


class TopUpSpent(InsufficientFunds):
    """A top-up cannot be voided once the wallet no longer holds its money."""

    def __init__(self, *, balance_cents: int, needed_cents: int):
        super().__init__(balance_cents=balance_cents, needed_cents=needed_cents)
        self.args = (
            f"The wallet holds {dollars(balance_cents)}, less than this top-up of "
            f"{dollars(needed_cents)}: part of it was already spent, so it cannot be voided. "
            "Nothing was changed; record an adjustment for what can be taken back.",
        )


class AlreadyReversed(BillingError):
    pass


class AmountOverCeiling(BillingError):
    def __init__(self, *, amount_cents: int, ceiling_cents: int):
        self.amount_cents = amount_cents
        self.ceiling_cents = ceiling_cents
        super().__init__(
            f"{dollars(amount_cents)} is more than one money movement may be: at most "
            f"{dollars(ceiling_cents)} (MONEY_MOVEMENT_MAX_CENTS). Check the amount; split a "
            "real one this large into several."
        )


# A balance is a PostgreSQL bigint: past these a write would fail deep in the database.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1

# What partners read for a movement when finance gives no description of its own. Never
# the internal reason (``memo``).
TOP_UP_DESCRIPTION = "Wallet top-up"
TOP_UP_VOID_DESCRIPTION = "Top-up voided"
ADJUSTMENT_DESCRIPTION = "Account adjustment"


def adjustment_description(amount_cents: int) -> str:
    return "Account credit" if amount_cents > 0 else "Account debit"


def reversal_description(original: LedgerTransaction) -> str:
    """``Refund: Lease @handle, month 2`` for a charge; ``Reversal: …`` otherwise."""
    what = original.partner_description or original.get_kind_display()
    if original.kind in LEASE_CHARGE_KINDS:
        return f"Refund: {what}"
    if original.kind == TransactionKind.FUNDING:
        return TOP_UP_VOID_DESCRIPTION
    return f"Reversal: {what}"


def money_movement_check(*, amount_cents: int) -> None:
    """The ceiling on one top-up, adjustment or charge (``MONEY_MOVEMENT_MAX_CENTS``), up
    or down. Every new movement passes here (``_post`` and ``lease_charges_post``); the
    console also asks it before showing a confirmation. Undoing an existing movement
    (a refund, a void) is not capped: it only puts back what was moved."""
    ceiling = settings.MONEY_MOVEMENT_MAX_CENTS
    if abs(amount_cents) > ceiling:
        raise AmountOverCeiling(amount_cents=amount_cents, ceiling_cents=ceiling)


def wallet_get_or_create(*, organization: Organization) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(organization=organization, kind=AccountKind.WALLET)
    return wallet


def _system_account(kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(kind=kind, organization=None)
    return account


def _actor_fields(actor) -> dict:
    if actor is None:
        return {"actor": None, "actor_label": SYSTEM_ACTOR}
    return {"actor": actor, "actor_label": actor.get_username()}


def _post(
    *,
    kind: str,
    legs: list[tuple[LedgerAccount, int]],
    actor=None,
    memo: str = "",
    description: str = "",
    reference: str = "",
    **links,
) -> LedgerTransaction:
    """Write one balanced transaction. Call inside ``transaction.atomic()``.

    ``memo`` is the internal reason, ``description`` what the partner reads. ``links``
    are what the transaction is about: ``reverses``, ``lease_id``, ``period``. A new
    movement is held to the ceiling; one that undoes another (``reverses``) is not. A
    form submitted twice is stopped before this, by its one-time token
    (``layers_ops.staff.once``).
    """
    if sum(amount for _, amount in legs) != 0:
        raise BillingError("A ledger transaction must sum to zero.")
    if any(amount == 0 for _, amount in legs):
        raise BillingError("A ledger entry cannot be zero.")
    if links.get("reverses") is None:
        money_movement_check(amount_cents=max(abs(amount) for _, amount in legs))
    locked = {
        account.pk: account
        for account in LedgerAccount.objects.select_for_update()
        .filter(pk__in=[account.pk for account, _ in legs])
        .order_by("pk")
    }
    for account, amount in legs:
        current = locked[account.pk]
        after = current.balance_cents + amount
        if current.kind == AccountKind.WALLET and after < 0:
            if kind == TransactionKind.TOP_UP_VOID:
                raise TopUpSpent(balance_cents=current.balance_cents, needed_cents=-amount)
            raise InsufficientFunds(balance_cents=current.balance_cents, needed_cents=-amount)
        if not BIGINT_MIN <= after <= BIGINT_MAX:
            raise BillingError(
                f"This would take the balance of {current} past what the ledger can hold "
                f"(it is {dollars(current.balance_cents)}). Nothing was changed; void or "
                "reverse the movement that brought it there."
            )
    txn = LedgerTransaction.objects.create(
        kind=kind,
        memo=memo,
        partner_description=description,
        reference=reference,
        **links,
        **_actor_fields(actor),
    )
    entries = []
    for account, amount in legs:
        current = locked[account.pk]
        current.balance_cents += amount
        entries.append(
            LedgerEntry(
                transaction=txn,
                account=current,
                amount_cents=amount,
                balance_after_cents=current.balance_cents,
            )
        )
    LedgerEntry.objects.bulk_create(entries)
    for current in locked.values():
        current.save(update_fields=["balance_cents"])
    # Keep the caller's instances in step with what was written.
    for account, _ in legs:
        account.balance_cents = locked[account.pk].balance_cents
    return txn


@transaction.atomic
def wallet_fund(
    *,
    organization: Organization,
    amount_cents: int,
    actor=None,
    memo: str = "",
    description: str = "",
    reference: str = "",
    once: str | None = None,
) -> LedgerTransaction:
    """Money received from a partner: the wallet goes up, funding goes down. ``memo`` is
    the internal reason; the partner reads ``description`` (default "Wallet top-up").
    ``once``: the form's one-time token (``layers_ops.staff.once``), so a page records
    it once."""
    ticket = once_take(once, user=actor)
    if amount_cents <= 0:
        raise BillingError("A top-up must be a positive number of cents.")
    wallet = wallet_get_or_create(organization=organization)
    txn = _post(
        kind=TransactionKind.FUNDING,
        legs=[(wallet, amount_cents), (_system_account(AccountKind.FUNDING), -amount_cents)],
        actor=actor,
        memo=memo.strip() or "Wallet top-up",
        description=description.strip() or TOP_UP_DESCRIPTION,
        reference=reference or wallet.organization_id,
    )
    ticket.done(f"a top-up of {dollars(amount_cents)} recorded (transaction {txn.pk})")
    return txn


@transaction.atomic
def wallet_adjust(
    *,
    organization: Organization,
    amount_cents: int,
    actor,
    memo: str,
    description: str = "",
    reference: str = "",
    once: str | None = None,
) -> LedgerTransaction:
    """A finance correction, up (credit) or down (debit); never below zero. Needs an
    internal reason (``memo``); the partner reads ``description`` (default "Account
    credit" or "Account debit"). ``once`` as for ``wallet_fund``."""
    ticket = once_take(once, user=actor)
    if amount_cents == 0:
        raise BillingError("An adjustment cannot be zero.")
    if not memo.strip():
        raise BillingError("Say why: an adjustment needs a memo.")
    wallet = wallet_get_or_create(organization=organization)
    txn = _post(
        kind=TransactionKind.ADJUSTMENT,
        legs=[(wallet, amount_cents), (_system_account(AccountKind.ADJUSTMENTS), -amount_cents)],
        actor=actor,
        memo=memo.strip(),
        description=description.strip() or adjustment_description(amount_cents),
        reference=reference or wallet.organization_id,
    )
    ticket.done(f"an adjustment of {dollars(amount_cents)} recorded (transaction {txn.pk})")
    return txn


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
    Statements: a fixed handful per call, however many charges it holds.
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

    revenue = _system_account(AccountKind.REVENUE)
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

    actor_fields = _actor_fields(actor)
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


@transaction.atomic
def transaction_reverse(
    *,
    original: LedgerTransaction,
    actor,
    memo: str,
    description: str = "",
    once: str | None = None,
) -> LedgerTransaction:
    """Undo a transaction with its mirror image, linked to it (``reverses``) and naming
    it as its reference. A reversed charge is a refund to the wallet; a reversed top-up
    is a voided top-up (kind ``top_up_void``), possible only while the wallet still
    holds the money (``TopUpSpent``). A transaction is reversed at most once; a reversal
    or void is final. ``memo`` is the internal reason; the partner reads
    ``description`` (default e.g. "Refund: Lease @handle, month 2"). ``once`` as for
    ``wallet_fund``."""
    ticket = once_take(once, user=actor)
    if not memo.strip():
        raise BillingError("Say why: a reversal needs a memo.")
    original = LedgerTransaction.objects.select_for_update().get(pk=original.pk)
    if original.kind in UNDOING_KINDS:
        raise BillingError(
            f"A {original.get_kind_display().lower()} cannot itself be undone; record an "
            "adjustment."
        )
    if LedgerTransaction.objects.filter(reverses=original).exists():
        raise AlreadyReversed(f"Transaction {original.pk} was already reversed.")
    legs = [(entry.account, -entry.amount_cents) for entry in original.entries.all()]
    kind = (
        TransactionKind.TOP_UP_VOID
        if original.kind == TransactionKind.FUNDING
        else TransactionKind.REVERSAL
    )
    txn = _post(
        kind=kind,
        legs=legs,
        actor=actor,
        memo=memo.strip(),
        description=description.strip() or reversal_description(original),
        reference=original.pk,
        reverses=original,
        lease_id=original.lease_id,
        period=original.period,
    )
    undone = "voided" if kind == TransactionKind.TOP_UP_VOID else "refunded"
    ticket.done(f"{original.pk} {undone} (transaction {txn.pk})")
    return txn


def top_up_void(
    *,
    top_up: LedgerTransaction,
    actor,
    memo: str,
    description: str = "",
    once: str | None = None,
):
    """Void a mistaken top-up: ``transaction_reverse`` of a funding transaction, which
    refuses once the wallet spent any of it and refuses a second void. ``once`` as for
    ``wallet_fund``."""
    if top_up.kind != TransactionKind.FUNDING:
        raise BillingError(f"{top_up.pk} is not a top-up; only a top-up can be voided.")
    return transaction_reverse(
        original=top_up, actor=actor, memo=memo, description=description, once=once
    )


@dataclass(frozen=True)
class OnboardedPartner:
    organization: Organization
    project: Project
    issued_key: IssuedKey
    wallet: Wallet


@transaction.atomic
def partner_onboard(
    *,
    name: str,
    project_name: str = "Default project",
    wallet_cents: int = 0,
    scopes=DEFAULT_SCOPES,
    rate_limit_tier: str = RateLimitTier.STANDARD,
    actor=None,
) -> OnboardedPartner:
    """A new organization with one project, one API key and a wallet (funded if asked)."""
    organization = organization_create(name=name)
    project = project_create(organization=organization, name=project_name)
    issued = api_key_create(
        organization=organization,
        name="Initial key",
        scopes=scopes,
        rate_limit_tier=rate_limit_tier,
    )
    wallet = wallet_get_or_create(organization=organization)
    if wallet_cents:
        wallet_fund(
            organization=organization,
            amount_cents=wallet_cents,
            actor=actor,
            memo="Opening balance",
        )
        wallet.refresh_from_db()
    return OnboardedPartner(
        organization=organization, project=project, issued_key=issued, wallet=wallet
    )
