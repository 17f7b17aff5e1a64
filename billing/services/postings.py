"""The one place ledger entries are written (``ledger_post``), and what every money
movement shares: the system actor, the wallet and system accounts, the amount check.

Locks: the ledger accounts a transaction touches, in primary-key order, then their
balances are checked and updated; callers lock their own rows (leases, accounts) first."""

from django.conf import settings

from layers_ops.partners.models import Organization

from ..models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
    Wallet,
)
from ..money import dollars
from .errors import AmountOverCeiling, BillingError, InsufficientFunds, TopUpSpent

SYSTEM_ACTOR = "system"


# A balance is a PostgreSQL bigint: past these a write would fail deep in the database.
BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1


def money_movement_check(*, amount_cents: int) -> None:
    """The ceiling on one top-up, adjustment or charge (``MONEY_MOVEMENT_MAX_CENTS``), up
    or down. Every new movement passes here (``ledger_post`` and ``lease_charges_post``); the
    console also asks it before showing a confirmation. Undoing an existing movement
    (a refund, a void) is not capped: it only puts back what was moved."""
    ceiling = settings.MONEY_MOVEMENT_MAX_CENTS
    if abs(amount_cents) > ceiling:
        raise AmountOverCeiling(amount_cents=amount_cents, ceiling_cents=ceiling)


def wallet_get_or_create(*, organization: Organization) -> Wallet:
    wallet, _ = Wallet.objects.get_or_create(organization=organization, kind=AccountKind.WALLET)
    return wallet


def system_account(kind: str) -> LedgerAccount:
    account, _ = LedgerAccount.objects.get_or_create(kind=kind, organization=None)
    return account


def ledger_actor_fields(actor) -> dict:
    if actor is None:
        return {"actor": None, "actor_label": SYSTEM_ACTOR}
    return {"actor": actor, "actor_label": actor.get_username()}


def ledger_post(
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
        **ledger_actor_fields(actor),
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
