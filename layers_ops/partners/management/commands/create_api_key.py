import json

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from layers_ops.partners.models import KeyEnvironment, Organization, RateLimitTier, Scope
from layers_ops.partners.services import DEFAULT_SCOPES, api_key_create


class Command(BaseCommand):
    help = (
        "Issue an API key for an organization. Prints the key once, as JSON. A test key "
        "(--env test) belongs to the organization's test-mode twin: its id and project ids "
        "are the ones printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--org", required=True, help="Organization id (org_...).")
        parser.add_argument("--name", default="API key", help="What the key is for.")
        parser.add_argument(
            "--scopes", nargs="+", default=list(DEFAULT_SCOPES), choices=Scope.values
        )
        parser.add_argument("--tier", default=RateLimitTier.STANDARD, choices=RateLimitTier.values)
        parser.add_argument("--env", default=KeyEnvironment.LIVE, choices=KeyEnvironment.values)

    def handle(self, *args, **options):
        organization = Organization.objects.filter(pk=options["org"]).first()
        if organization is None:
            raise CommandError(f"No organization {options['org']!r}.")
        try:
            issued = api_key_create(
                organization=organization,
                name=options["name"],
                scopes=options["scopes"],
                rate_limit_tier=options["tier"],
                environment=options["env"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        owner = issued.api_key.organization
        self.stdout.write(
            json.dumps(
                {
                    "organizationId": owner.pk,
                    "environment": owner.environment,
                    "projects": [
                        {"id": p.pk, "name": p.name} for p in owner.projects.order_by("name")
                    ],
                    "apiKeyId": issued.api_key.pk,
                    "apiKey": issued.token,
                }
            )
        )
