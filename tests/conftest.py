import os
import uuid
from dataclasses import dataclass

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from billing.services.onboarding import partner_onboard
from layers_ops.partners.models import RateLimitTier, Scope
from layers_ops.partners.services import api_key_create

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def _missing(reason: str):
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and REQUIRE_SERVICES=1 forbids skipping", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """The test database without autovacuum. Analysing a table while a flush has just left
    it empty makes PostgreSQL trust "no rows": a test that then grows it inside its one
    transaction (the renewal state machine) gets nested loops over every row, minutes
    instead of seconds, depending on when autovacuum happened to pass. Unanalysed tables
    keep PostgreSQL's default estimates."""
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT format('ALTER TABLE %I.%I SET (autovacuum_enabled = false)', schemaname, "
            "tablename) FROM pg_tables WHERE schemaname = current_schema()"
        )
        for (statement,) in cursor.fetchall():
            cursor.execute(statement)


@pytest.fixture(autouse=True)
def _job_queue_emptied(request):
    """Django's flush after a ``transaction=True`` test empties only the tables of managed
    models; the job engine's tables (procrastinate's own) are emptied here, so no test
    sees another's jobs."""
    yield
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        return
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE procrastinate_jobs, procrastinate_events, procrastinate_periodic_defers, "
            "procrastinate_workers RESTART IDENTITY CASCADE"
        )


def pytest_runtest_setup(item):
    if item.get_closest_marker("redis") and not settings.REDIS_URL:
        _missing("needs Redis (set REDIS_URL)")


@dataclass
class Partner:
    organization: object
    project: object
    api_key: object
    token: str
    client: APIClient

    def client_with(self, *scopes, tier=RateLimitTier.INTERNAL) -> APIClient:
        """A client holding another key of this partner's organization."""
        issued = api_key_create(
            organization=self.organization, name="other", scopes=scopes, rate_limit_tier=tier
        )
        return bearer_client(issued.token)


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def make_partner(
    name=None, *, wallet_cents=300_000, scopes=(Scope.ALL,), tier=RateLimitTier.INTERNAL
):
    onboarded = partner_onboard(
        name=name or f"Partner {uuid.uuid4().hex[:8]}",
        wallet_cents=wallet_cents,
        scopes=scopes,
        rate_limit_tier=tier,
    )
    return Partner(
        organization=onboarded.organization,
        project=onboarded.project,
        api_key=onboarded.issued_key.api_key,
        token=onboarded.issued_key.token,
        client=bearer_client(onboarded.issued_key.token),
    )


@pytest.fixture
def partner(db) -> Partner:
    """A funded partner ($3,000) whose key holds every scope on the internal tier."""
    return make_partner()


@pytest.fixture
def other_partner(db) -> Partner:
    return make_partner()


def lease_body(project_id: str, **overrides) -> dict:
    body = {
        "projectId": project_id,
        "count": 5,
        "niche": {
            "vertical": "coffee",
            "audience": "home baristas 25–40",  # noqa: RUF001 (as on the API page)
            "language": "en",
            "geo": ["US", "CA", "GB"],
        },
        "target": "Short-form brew tutorials; paid UGC-style creative for ads.",
    }
    body.update(overrides)
    return body


def request_url(project_id: str) -> str:
    return f"/v1/projects/{project_id}/leased-accounts/request"


def post_raw(partner, raw, key=None):
    """POST a body exactly as written (malformed or oddly laid out JSON included)."""
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return partner.client.generic(
        "POST", request_url(partner.project.pk), raw, content_type="application/json", **headers
    )
