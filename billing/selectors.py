"""Reads of wallets and the ledger."""

from dataclasses import dataclass

from django.db.models import Subquery, Sum, Value
from django.db.models.functions import Coalesce

from .models import LedgerAccount, LedgerEntry, Wallet


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
