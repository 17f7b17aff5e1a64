"""Wallets and renewals as Prometheus gauges, computed at every scrape.

Registered by ``BillingConfig.ready``. Two queries for the wallets (balances, and the
lease usage the leasing app provides, ``billing.usage``) and one for the last renewal.
"""

from django.utils import timezone

from layers_ops.ops.metrics import gauge

from .models import LedgerTransaction, TransactionKind, Wallet
from .usage import lease_usage, runway_days

LOW_RUNWAY_DAYS = 7


def collect():
    now = timezone.now()
    balances = dict(Wallet.objects.values_list("organization_id", "balance_cents"))
    usage = lease_usage(balances)
    low = sum(
        1
        for organization, balance in balances.items()
        if (days := runway_days(balance_cents=balance, usage=usage[organization], now=now))
        is not None
        and days < LOW_RUNWAY_DAYS
    )
    yield gauge(
        "layers_wallets_low_runway",
        f"Wallets whose balance pays their leases' renewals for under {LOW_RUNWAY_DAYS} days.",
        low,
    )
    last = (
        LedgerTransaction.objects.filter(kind=TransactionKind.RENEWAL)
        .order_by("-created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if last is not None:
        yield gauge(
            "layers_renewal_last_charge_age_seconds",
            "Seconds since the newest renewal charge (whether runs happen at all: "
            "layers_renewals_last_run_age_seconds).",
            (now - last).total_seconds(),
        )
