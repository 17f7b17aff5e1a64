"""Wallets and renewals as Prometheus gauges, computed at every scrape.

Registered by ``BillingConfig.ready``. Two queries for the wallets (balances, and the
lease usage the leasing app provides, ``billing.usage``) and one for the last renewal.
"""

from django.conf import settings
from django.utils import timezone

from layers_ops.ops.metrics import gauge

from .models import LedgerTransaction, TransactionKind
from .selectors import live_wallets
from .usage import lease_usage, runway_days


def collect():
    now = timezone.now()
    low_runway_days = settings.WALLET_LOW_RUNWAY_DAYS
    balances = dict(live_wallets().values_list("organization_id", "balance_cents"))
    usage = lease_usage(balances)
    low = sum(
        1
        for organization, balance in balances.items()
        if (days := runway_days(balance_cents=balance, usage=usage[organization], now=now))
        is not None
        and days < low_runway_days
    )
    yield gauge(
        "layers_wallets_low_runway",
        f"Wallets whose balance pays their leases' renewals for under {low_runway_days} days "
        "(WALLET_LOW_RUNWAY_DAYS).",
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
