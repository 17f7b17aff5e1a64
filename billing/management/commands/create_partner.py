import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from billing.money import MAX_TYPED_CENTS
from billing.services.onboarding import partner_onboard
from layers_ops.grammar import DIGITS_RULE, GrammarError, whole_number
from layers_ops.partners.models import RateLimitTier, Scope
from layers_ops.partners.services import DEFAULT_SCOPES


class Command(BaseCommand):
    help = (
        "Create an organization with one project, an API key and a wallet funded through "
        "the ledger. Prints one JSON object: organizationId, projectId, apiKey."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="Organization name (unique).")
        parser.add_argument("--project-name", default="Default project")
        parser.add_argument("--wallet-cents", default="0", help="Opening balance, in cents.")
        parser.add_argument(
            "--scopes", nargs="+", default=list(DEFAULT_SCOPES), choices=Scope.values
        )
        parser.add_argument("--tier", default=RateLimitTier.STANDARD, choices=RateLimitTier.values)

    def handle(self, *args, **options):
        try:
            wallet_cents = whole_number(
                str(options["wallet_cents"]), minimum=0, maximum=MAX_TYPED_CENTS
            )
        except GrammarError:
            raise CommandError(
                f"--wallet-cents must be a whole number of US cents from 0 to "
                f"{MAX_TYPED_CENTS} ({DIGITS_RULE})."
            ) from None
        try:
            partner = partner_onboard(
                name=options["name"],
                project_name=options["project_name"],
                wallet_cents=wallet_cents,
                scopes=options["scopes"],
                rate_limit_tier=options["tier"],
            )
        except IntegrityError as exc:
            raise CommandError(f"An organization named {options['name']!r} exists.") from exc
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            json.dumps(
                {
                    "organizationId": partner.organization.pk,
                    "projectId": partner.project.pk,
                    "apiKey": partner.issued_key.token,
                    "walletBalanceCents": partner.wallet.balance_cents,
                }
            )
        )
