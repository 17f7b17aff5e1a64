"""The partner's view of its wallet: the figures on ``GET /v1/wallet`` and the entries on
``GET /v1/wallet/ledger``. Always scoped to one organization; reads only."""

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet

from layers_ops.api.exceptions import ValidationFailed
from layers_ops.api.query import query_value
from layers_ops.grammar import timestamp

from .models import AccountKind, LedgerEntry, TransactionKind, Wallet
from .selectors import FINANCE_TZ
from .usage import lease_usage, runway_days


@dataclass(frozen=True)
class WalletSummary:
    organization_id: str
    balance_cents: int
    currency: str
    active_leases: int
    monthly_burn_cents: int
    accounts_covered: int  # account-months at the list price the balance pays for
    runway_days: int | None


def wallet_summary(*, organization_id: str, now: datetime | None = None) -> WalletSummary:
    """Balance, what the running leases cost a month, and how long the balance lasts
    (``billing.usage.runway_days``: the day the first renewal it cannot pay falls due)."""
    balance, currency = (
        Wallet.objects.filter(organization_id=organization_id)
        .values_list("balance_cents", "currency")
        .first()
    ) or (0, "USD")
    usage = lease_usage([organization_id])[organization_id]
    return WalletSummary(
        organization_id=organization_id,
        balance_cents=balance,
        currency=currency,
        active_leases=usage.active_leases,
        monthly_burn_cents=usage.monthly_burn_cents,
        accounts_covered=balance // settings.LEASE_PRICE_CENTS,
        runway_days=runway_days(balance_cents=balance, usage=usage, now=now),
    )


def wallet_entries(
    *,
    organization_id: str,
    kind: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> QuerySet:
    """The organization's wallet entries with their transactions; ``kind`` filters on the
    transaction kind, ``since`` (inclusive) and ``until`` (exclusive) on the entry time
    (RFC 3339 times or dates, ``layers_ops.grammar.timestamp``).
    A filter that is not valid is 422 VALIDATION naming it."""
    if kind is not None and kind not in TransactionKind.values:
        raise ValidationFailed(
            f"kind must be one of: {', '.join(TransactionKind.values)}.",
            details=[
                {"field": "kind", "message": f"Must be one of {', '.join(TransactionKind.values)}."}
            ],
        )
    start = query_value("since", since, timestamp, date_zone=FINANCE_TZ)
    end = query_value("until", until, timestamp, date_zone=FINANCE_TZ)
    entries = LedgerEntry.objects.filter(
        account__kind=AccountKind.WALLET, account__organization_id=organization_id
    ).select_related("transaction")
    if kind is not None:
        entries = entries.filter(transaction__kind=kind)
    if start is not None:
        entries = entries.filter(created_at__gte=start)
    if end is not None:
        entries = entries.filter(created_at__lt=end)
    return entries
