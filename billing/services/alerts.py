"""``wallet.low_balance``: a wallet whose balance pays for under
``WALLET_LOW_RUNWAY_DAYS`` of its leases' renewals tells its partner once, when it
crosses the line; a top-up that carries it back over re-arms the alert.

Called by the services that move a wallet's balance or burn (charges, top-ups), inside
their transaction, and for every wallet by the scheduled renewals (time alone shortens a
runway). Locks: the wallets, in pk order (after ``postings.ledger_post``'s
own locks on the same rows, so never a new wait).
"""

from collections.abc import Iterable

from django.conf import settings
from django.utils import timezone

from layers_ops.webhooks.models import EventType
from layers_ops.webhooks.services import Occurrence, events_emit

from ..models import AccountKind, LedgerAccount
from ..usage import lease_usage, runway_days


def wallets_runway_check_all(*, now=None) -> list[str]:
    """Every wallet, as runways shorten with time alone (the scheduled renewals call it
    every 15 minutes). A fixed number of queries, plus one event per newly low wallet."""
    ids = LedgerAccount.objects.filter(kind=AccountKind.WALLET).values_list(
        "organization_id", flat=True
    )
    return wallets_runway_check(organization_ids=list(ids), now=now)


def wallets_runway_check(*, organization_ids: Iterable[str], now=None) -> list[str]:
    """Marks the wallets of ``organization_ids`` low or not by their runway, emitting
    ``wallet.low_balance`` for each that just became low. Returns those organizations."""
    from ..serializers import WalletOut
    from ..wallet import wallet_summary

    organization_ids = sorted(set(organization_ids))
    if not organization_ids:
        return []
    now = now or timezone.now()
    wallets = list(
        LedgerAccount.objects.select_for_update()
        .filter(kind=AccountKind.WALLET, organization_id__in=organization_ids)
        .order_by("pk")
    )
    usage = lease_usage([w.organization_id for w in wallets])
    newly_low, recovered = [], []
    for wallet in wallets:
        days = runway_days(
            balance_cents=wallet.balance_cents, usage=usage[wallet.organization_id], now=now
        )
        low = days is not None and days < settings.WALLET_LOW_RUNWAY_DAYS
        if low and wallet.low_runway_since is None:
            newly_low.append(wallet)
        elif not low and wallet.low_runway_since is not None:
            recovered.append(wallet)
    if newly_low:
        LedgerAccount.objects.filter(pk__in=[w.pk for w in newly_low]).update(low_runway_since=now)
    if recovered:
        LedgerAccount.objects.filter(pk__in=[w.pk for w in recovered]).update(low_runway_since=None)
    events_emit(
        [
            Occurrence(
                organization_id=wallet.organization_id,
                type=EventType.WALLET_LOW_BALANCE,
                data=dict(WalletOut(wallet_summary(organization_id=wallet.organization_id)).data),
            )
            for wallet in newly_low
        ],
        now=now,
    )
    return [w.organization_id for w in newly_low]
