import datetime
import json
import secrets
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from billing.services.onboarding import partner_onboard
from layers_ops.partners.models import ApiKey, Organization, RateLimitTier, Scope
from layers_ops.partners.services import api_key_create, api_key_revoke
from leasing.models import AccountState, LeaseRequest, Pool, RequestStatus, SocialAccount
from leasing.roles import FINANCE, OPS
from leasing.services.allocation import allocation_pick_best
from leasing.services.claims import request_claim
from leasing.services.requests import lease_request_create, request_close
from leasing.sla import sla_due_at

DEMO_ORG = "Demo Coffee Co"
DEMO_WALLET_CENTS = 300_000  # $3,000: twenty account-months
DEMO_SCOPES = [Scope.LEASED_WRITE, Scope.BILLING_READ, Scope.WEBHOOKS_WRITE]
STAFF = {"ops": OPS, "finance": FINANCE}

SECOND_ORG = "Northwind Games"
SECOND_WALLET_CENTS = 150_000

POOLS = [
    ("Coffee EN (US/CA/GB)", ["coffee", "food"], "en", ["US", "CA", "GB"], "brew"),
    ("Fitness EN (US)", ["fitness"], "en", ["US"], "lift"),
    ("Mobile games PT-BR", ["mobile games"], "pt-BR", ["BR"], "jogo"),
]
ACCOUNTS_PER_POOL, READY_PER_POOL = 14, 12

# The queue on first login: (org, partner requestId, hours ago, count, niche, what ops did).
DEMO_REQUESTS = [
    ("second", "nw-overdue-1", 24 * 7, 3, ("fitness", "en", ["US"]), "open"),
    ("demo", "demo-partial-1", 30, 3, ("coffee", "en", ["US", "CA"]), "partial-open"),
    ("demo", "demo-claimed-1", 20, 2, ("fitness", "en", ["US"]), "claimed"),
    ("demo", "demo-open-1", 3, 5, ("coffee", "en", ["US", "CA", "GB"]), "open"),
    ("second", "nw-open-1", 1, 4, ("mobile games", "pt-BR", ["BR"]), "open"),
    ("second", "nw-assigned-1", 50, 2, ("mobile games", "pt-BR", ["BR"]), "assigned"),
    ("demo", "demo-rejected-1", 40, 4, ("knitting", "en", ["GB"]), "rejected"),
]


class Command(BaseCommand):
    help = (
        "Load demo data: a funded partner with a project and an API key, warmed pools, a "
        "queue of requests in several states, and ops / finance staff users. Safe to "
        "re-run: each run issues a fresh demo key and fresh staff passwords, and prints "
        "them with a working curl."
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
        self._load_requests(organization, project)
        self._print(options["base_url"], project.pk, token, passwords)

    def _load_pools(self):
        now = timezone.now()
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
                    followers=4_000 + 7_919 * i % 60_000,
                    follower_geos=geos[: 1 + i % len(geos)],
                    state=AccountState.READY if i < READY_PER_POOL else AccountState.WARMING,
                    warmed_since=(
                        now - datetime.timedelta(days=30 + 3 * i) if i < READY_PER_POOL else None
                    ),
                    state_changed_at=now - datetime.timedelta(days=30 + 3 * i),
                )
                for i in range(ACCOUNTS_PER_POOL)
            )

    def _load_requests(self, organization, project):
        """A queue in several states, made once (re-runs find the partner requestIds)."""
        if LeaseRequest.objects.filter(organization=organization).exists():
            return
        second = Organization.objects.filter(name=SECOND_ORG).first()
        if second is None:
            second = partner_onboard(
                name=SECOND_ORG,
                project_name="Launch campaign",
                wallet_cents=SECOND_WALLET_CENTS,
                scopes=DEMO_SCOPES,
                rate_limit_tier=RateLimitTier.PILOT,
            ).organization
        second_project = second.projects.order_by("created_at").first()
        owners = {"demo": (organization, project), "second": (second, second_project)}
        User = get_user_model()
        ops, admin = User.objects.get(username="ops"), User.objects.get(username="admin")
        now = timezone.now()
        for owner, partner_id, hours_ago, count, niche, outcome in DEMO_REQUESTS:
            org, prj = owners[owner]
            vertical, language, geo = niche
            lease_request = lease_request_create(
                organization_id=org.pk,
                project_id=prj.pk,
                api_key=None,
                payload={
                    "requestId": partner_id,
                    "count": count,
                    "niche": {"vertical": vertical, "language": language, "geo": geo},
                    "target": f"Demo: {vertical} short-form videos",
                },
            )
            # Demo only: backdate the submission so the queue shows ages and an overdue row.
            submitted = now - datetime.timedelta(hours=hours_ago)
            LeaseRequest.objects.filter(pk=lease_request.pk).update(
                submitted_at=submitted, sla_due_at=sla_due_at(submitted)
            )
            if outcome == "partial-open":
                allocation_pick_best(lease_request=lease_request, count=1, actor=ops)
                request_claim(lease_request=lease_request, actor=ops)
            elif outcome == "claimed":
                request_claim(lease_request=lease_request, actor=admin)
            elif outcome == "assigned":
                allocation_pick_best(lease_request=lease_request, count=count, actor=ops)
            elif outcome == "rejected":
                request_close(
                    lease_request=lease_request,
                    outcome=RequestStatus.REJECTED,
                    note="We have no knitting pool yet; we will tell you when one is warmed.",
                    partner_visible=True,
                    actor=ops,
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
            (
                "  Second factor: required (STAFF_2FA_REQUIRED); each user enrols a code "
                "app at first sign-in."
                if settings.STAFF_2FA_REQUIRED
                else "  Second factor: off in development (DEBUG); production requires it "
                "(STAFF_2FA_REQUIRED)."
            ),
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
            "Or be told: a webhook endpoint (the worker beside the server delivers to any local",
            "receiver that answers 2xx; its signing secret is in the answer):",
            "",
            f"curl -s {base_url}/v1/webhook-endpoints \\",
            f'  -H "Authorization: Bearer {token}" \\',
            '  -H "Content-Type: application/json" \\',
            '  -d \'{"url": "http://127.0.0.1:9000/hooks", "events": '
            '["lease_request.assigned", "lease_request.partial", "lease_request.rejected"]}\'',
            "",
        ]
        self.stdout.write("\n".join(lines))
