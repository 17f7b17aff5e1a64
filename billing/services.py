"""The only code that moves money.

Each public function is one database transaction that locks the accounts it touches in
primary-key order, checks the wallet can pay, writes one balanced LedgerTransaction and
updates the stored balances. Later money movements (charges, renewals, adjustments)
are new functions here built on ``_post``; the model does not change.
"""

from dataclasses import dataclass

from django.db import transaction

from layers_ops.partners.models import Organization, Project, RateLimitTier
from layers_ops.partners.services import (
    DEFAULT_SCOPES,
    IssuedKey,
    api_key_create,
    organization_create,
    project_create,
)

from .models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    TransactionKind,
    Wallet,
)

SYSTEM_ACTOR = "system"


class BillingError(Exception):
    """A money rule was broken; the message is safe to show to staff."""


class InsufficientFunds(BillingError):
    def __init__(self, *, balance_cents: int, needed_cents: int):
        self.balance_cents = balance_cents
        self.needed_cents = needed_cents
        super().__init__(
            f"The wallet holds {balance_cents / 100:,.2f} USD and this needs "
            f"{needed_cents / 100:,.2f} USD."
        )


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
    reference: str = "",
    dedupe_key: str | None = None,
) -> LedgerTransaction:
    """Write one balanced transaction. Call inside ``transaction.atomic()``."""
    if sum(amount for _, amount in legs) != 0:
        raise BillingError("A ledger transaction must sum to zero.")
    if any(amount == 0 for _, amount in legs):
        raise BillingError("A ledger entry cannot be zero.")
    locked = {
        account.pk: account
        for account in LedgerAccount.objects.select_for_update()
        .filter(pk__in=[account.pk for account, _ in legs])
        .order_by("pk")
    }
    for account, amount in legs:
        current = locked[account.pk]
        if current.kind == AccountKind.WALLET and current.balance_cents + amount < 0:
            raise InsufficientFunds(balance_cents=current.balance_cents, needed_cents=-amount)
    txn = LedgerTransaction.objects.create(
        kind=kind, memo=memo, reference=reference, dedupe_key=dedupe_key, **_actor_fields(actor)
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
    reference: str = "",
) -> LedgerTransaction:
    """Money received from a partner: the wallet goes up, funding goes down."""
    if amount_cents <= 0:
        raise BillingError("A top-up must be a positive number of cents.")
    wallet = wallet_get_or_create(organization=organization)
    return _post(
        kind=TransactionKind.FUNDING,
        legs=[(wallet, amount_cents), (_system_account(AccountKind.FUNDING), -amount_cents)],
        actor=actor,
        memo=memo or "Wallet top-up",
        reference=reference or wallet.organization_id,
    )


@transaction.atomic
def wallet_adjust(
    *, organization: Organization, amount_cents: int, actor, memo: str, reference: str = ""
) -> LedgerTransaction:
    """A finance correction, up (credit) or down (debit); never below zero. Needs a reason."""
    if amount_cents == 0:
        raise BillingError("An adjustment cannot be zero.")
    if not memo.strip():
        raise BillingError("Say why: an adjustment needs a memo.")
    wallet = wallet_get_or_create(organization=organization)
    return _post(
        kind=TransactionKind.ADJUSTMENT,
        legs=[(wallet, amount_cents), (_system_account(AccountKind.ADJUSTMENTS), -amount_cents)],
        actor=actor,
        memo=memo.strip(),
        reference=reference or wallet.organization_id,
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
