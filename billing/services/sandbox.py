"""Test mode's money: a twin organization's sandbox wallet is opened with
``SANDBOX_WALLET_CENTS`` by a real funding transaction (``sandbox_wallet_open``, run by
``partners.services.organization_sandbox_get_or_create`` when it creates a twin) and
topped up by the partner's own test key (``sandbox_top_up``). The same double-entry
rules as live money; live reports leave it out (``billing.selectors.live_money``).

Locks: the wallet and the funding account, in pk order (``postings.ledger_post``)."""

from django.conf import settings
from django.db import transaction

from layers_ops.partners.models import Organization

from ..models import LedgerTransaction
from .errors import BillingError
from .movements import wallet_fund
from .postings import wallet_get_or_create

# The most one sandbox top-up may add ($10,000): test money, but still a bounded figure.
SANDBOX_TOP_UP_MAX_CENTS = 1_000_000
SANDBOX_DESCRIPTION = "Sandbox wallet top-up (test mode)"


class NotTestMode(BillingError):
    """Sandbox money only ever goes to a test-mode organization."""


def _test_only(organization: Organization) -> None:
    if not organization.is_test:
        raise NotTestMode(f"{organization} is live: sandbox money goes to test twins only.")


@transaction.atomic
def sandbox_wallet_open(organization: Organization) -> None:
    """The twin's wallet, funded with ``SANDBOX_WALLET_CENTS`` (if above zero)."""
    _test_only(organization)
    wallet_get_or_create(organization=organization)
    if settings.SANDBOX_WALLET_CENTS:
        wallet_fund(
            organization=organization,
            amount_cents=settings.SANDBOX_WALLET_CENTS,
            memo="Sandbox opening balance",
            description="Sandbox opening balance (test mode)",
        )


@transaction.atomic
def sandbox_top_up(*, organization: Organization, amount_cents: int) -> LedgerTransaction:
    """The partner adds test money to its sandbox wallet: 1 cent to
    ``SANDBOX_TOP_UP_MAX_CENTS``, a funding transaction like any top-up."""
    _test_only(organization)
    if not 0 < amount_cents <= SANDBOX_TOP_UP_MAX_CENTS:
        raise BillingError(
            f"A sandbox top-up is 1 to {SANDBOX_TOP_UP_MAX_CENTS} cents; {amount_cents} is not."
        )
    return wallet_fund(
        organization=organization,
        amount_cents=amount_cents,
        memo="Sandbox top-up by the partner's test key",
        description=SANDBOX_DESCRIPTION,
    )
