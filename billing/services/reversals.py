"""Undoing a movement with a reversing transaction: refunds and reversals
(``transaction_reverse``) and voiding a top-up (``top_up_void``); entries are never
edited.

Locks: the original transaction, then its ledger accounts in pk order."""

from django.db import transaction

from layers_ops.staff.once import once_take

from ..models import (
    LEASE_CHARGE_KINDS,
    UNDOING_KINDS,
    LedgerTransaction,
    TransactionKind,
)
from .errors import AlreadyReversed, BillingError
from .postings import ledger_post

# What partners read for a voided top-up when finance gives no description of its own.
TOP_UP_VOID_DESCRIPTION = "Top-up voided"


def reversal_description(original: LedgerTransaction) -> str:
    """``Refund: Lease @handle, month 2`` for a charge; ``Reversal: …`` otherwise."""
    what = original.partner_description or original.get_kind_display()
    if original.kind in LEASE_CHARGE_KINDS:
        return f"Refund: {what}"
    if original.kind == TransactionKind.FUNDING:
        return TOP_UP_VOID_DESCRIPTION
    return f"Reversal: {what}"


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
    txn = ledger_post(
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
