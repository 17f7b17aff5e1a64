"""Onboarding a partner: organization, project, wallet, first key and opening funds in
one transaction (``partner_onboard``)."""

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

from ..models import (
    Wallet,
)
from .movements import wallet_fund
from .postings import wallet_get_or_create


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
