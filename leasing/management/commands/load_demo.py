import json
import secrets
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing.services import partner_onboard
from layers_ops.partners.models import ApiKey, Organization, RateLimitTier, Scope
from layers_ops.partners.services import api_key_create, api_key_revoke
from leasing.models import AccountState, Pool, SocialAccount
from leasing.roles import FINANCE, OPS

DEMO_ORG = "Demo Coffee Co"
DEMO_WALLET_CENTS = 300_000  # $3,000: twenty account-months
DEMO_SCOPES = [Scope.LEASED_WRITE, Scope.BILLING_READ]
STAFF = {"ops": OPS, "finance": FINANCE}

POOLS = [
    ("Coffee EN (US/CA/GB)", ["coffee", "food"], "en", ["US", "CA", "GB"], "brew"),
    ("Fitness EN (US)", ["fitness"], "en", ["US"], "lift"),
    ("Mobile games PT-BR", ["mobile games"], "pt-BR", ["BR"], "jogo"),
]


class Command(BaseCommand):
    help = (
        "Load demo data: a funded partner with a project and an API key, warmed pools, and "
        "ops / finance staff users. Safe to re-run: each run issues a fresh demo key and "
        "fresh staff passwords, and prints them with a working curl."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (it creates a superuser and prints passwords).",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "load_demo is for development: it creates an 'admin' superuser and prints "
                "passwords. Run it with DEBUG=true, or pass --force."
            )
        organization = Organization.objects.filter(name=DEMO_ORG).first()
        if organization is None:
            partner = partner_onboard(
                name=DEMO_ORG,
                project_name="Brew tutorials",
                wallet_cents=DEMO_WALLET_CENTS,
                scopes=DEMO_SCOPES,
                rate_limit_tier=RateLimitTier.PILOT,
            )
            organization, project = partner.organization, partner.project
            token = partner.issued_key.token
        else:
            project = organization.projects.order_by("created_at").first()
            for old in ApiKey.objects.filter(organization=organization, revoked_at__isnull=True):
                api_key_revoke(api_key=old)
            token = api_key_create(
                organization=organization,
                name="Demo key",
                scopes=DEMO_SCOPES,
                rate_limit_tier=RateLimitTier.PILOT,
            ).token
        self._load_pools()
        passwords = self._staff_users()
        self._print(options["base_url"], project.pk, token, passwords)

    def _load_pools(self):
        for name, tags, language, geos, stem in POOLS:
            pool, created = Pool.objects.get_or_create(
                name=name, defaults={"tags": tags, "language": language, "geos": geos}
            )
            if not created:
                continue
            SocialAccount.objects.bulk_create(
                SocialAccount(
                    pool=pool,
                    handle=f"{stem}_{i:02d}_{secrets.token_hex(2)}",
                    followers=1_000 + 750 * i,
                    follower_geos=geos[: 1 + i % len(geos)],
                    state=AccountState.READY if i < 8 else AccountState.WARMING,
                )
                for i in range(10)
            )

    def _staff_users(self) -> dict[str, str]:
        User = get_user_model()
        passwords = {}
        for username, group_name in [("admin", None), *STAFF.items()]:
            user, _ = User.objects.get_or_create(username=username)
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.is_staff = True
            user.is_superuser = group_name is None
            user.save()
            if group_name:
                user.groups.set([Group.objects.get(name=group_name)])
            passwords[username] = password
        return passwords

    def _print(self, base_url, project_id, token, passwords):
        body = json.dumps(
            {
                "projectId": project_id,
                "count": 3,
                "niche": {
                    "vertical": "coffee",
                    "audience": "home baristas 25-40",
                    "language": "en",
                    "geo": ["US", "CA"],
                },
                "target": "Short-form brew tutorials",
            }
        )
        lines = [
            "",
            "Demo data loaded.",
            "",
            f"Admin:  {base_url}/admin/",
            *(f"  {user:<8} password {pw}" for user, pw in passwords.items()),
            f"API reference: {base_url}/docs/",
            "",
            "Queue a lease request:",
            "",
            f"curl -i -X POST {base_url}/v1/projects/{project_id}/leased-accounts/request \\",
            f'  -H "Authorization: Bearer {token}" \\',
            f'  -H "Idempotency-Key: {uuid.uuid4()}" \\',
            '  -H "Content-Type: application/json" \\',
            f"  -d '{body}'",
            "",
            "Then poll it (use the Location header) or list requests:",
            "",
            f"curl -s {base_url}/v1/projects/{project_id}/leased-accounts/requests \\",
            f'  -H "Authorization: Bearer {token}"',
            "",
        ]
        self.stdout.write("\n".join(lines))
