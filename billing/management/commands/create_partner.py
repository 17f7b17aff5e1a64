import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from billing.services import partner_onboard
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
        parser.add_argument("--wallet-cents", type=int, default=0, help="Opening balance.")
        parser.add_argument(
            "--scopes", nargs="+", default=list(DEFAULT_SCOPES), choices=Scope.values
        )
        parser.add_argument("--tier", default=RateLimitTier.STANDARD, choices=RateLimitTier.values)

    def handle(self, *args, **options):
        if options["wallet_cents"] < 0:
            raise CommandError("--wallet-cents cannot be negative.")
        try:
            partner = partner_onboard(
                name=options["name"],
                project_name=options["project_name"],
                wallet_cents=options["wallet_cents"],
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
