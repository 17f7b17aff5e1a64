"""Finance moving money by hand: top-ups (``wallet_fund``) and adjustments
(``wallet_adjust``), with the descriptions partners read for them.

Locks: the wallet and system accounts, in pk order (``postings.ledger_post``)."""

from django.db import transaction

from layers_ops.partners.models import Organization
from layers_ops.staff.once import once_take

from ..models import (
    AccountKind,
    LedgerTransaction,
    TransactionKind,
)
from ..money import dollars
from .alerts import wallets_runway_check
from .errors import BillingError
from .postings import ledger_post, system_account, wallet_get_or_create

# What partners read for a movement when finance gives no description of its own. Never
# the internal reason (``memo``).
TOP_UP_DESCRIPTION = "Wallet top-up"
ADJUSTMENT_DESCRIPTION = "Account adjustment"


def adjustment_description(amount_cents: int) -> str:
    return "Account credit" if amount_cents > 0 else "Account debit"


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
    txn = ledger_post(
        kind=TransactionKind.FUNDING,
        legs=[(wallet, amount_cents), (system_account(AccountKind.FUNDING), -amount_cents)],
        actor=actor,
        memo=memo.strip() or "Wallet top-up",
        description=description.strip() or TOP_UP_DESCRIPTION,
        reference=reference or wallet.organization_id,
    )
    wallets_runway_check(organization_ids=[organization.pk])  # re-arms wallet.low_balance
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
    txn = ledger_post(
        kind=TransactionKind.ADJUSTMENT,
        legs=[(wallet, amount_cents), (system_account(AccountKind.ADJUSTMENTS), -amount_cents)],
        actor=actor,
        memo=memo.strip(),
        description=description.strip() or adjustment_description(amount_cents),
        reference=reference or wallet.organization_id,
    )
    ticket.done(f"an adjustment of {dollars(amount_cents)} recorded (transaction {txn.pk})")
    return txn
