"""Verified API keys are cached per process (``layers_ops.partners.keycache``), and a
revocation still takes effect at once: in this process, in another one, and when Redis
has lost or never had the key's version."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from layers_ops.api import ratelimit
from layers_ops.partners import keycache
from layers_ops.partners.models import new_api_key_id
from layers_ops.partners.services import api_key_revoke
from tests.conftest import lease_body, make_partner, request_url

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def redis_answering(monkeypatch):
    """Each test starts as if Redis had always answered (another test may have just
    pointed at a dead Redis, which pauses the cache for a second)."""
    monkeypatch.setattr(keycache, "_redis_away_until", 0.0)


def post(partner, body, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return partner.client.post(request_url(partner.project.pk), body, format="json", **headers)


def key_reads(partner) -> int:
    """How many statements a whoami call spends reading its API key."""
    with CaptureQueriesContext(connection) as captured:
        assert partner.client.get("/v1/whoami").status_code == 200
    return sum(
        q["sql"].startswith("SELECT") and 'FROM "partners_apikey"' in q["sql"]
        for q in captured.captured_queries
    )


def revoke_in_another_process(api_key_id: str) -> None:
    """Revoke the key from a separate Python process, as the admin on another host would:
    nothing in this process's memory is touched."""
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    script = (
        "import django; django.setup()\n"
        "from layers_ops.partners.models import ApiKey\n"
        "from layers_ops.partners.services import api_key_revoke\n"
        f"api_key_revoke(api_key=ApiKey.objects.get(pk={api_key_id!r}))\n"
    )
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": settings.REDIS_URL,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=60)


def test_a_verified_key_is_not_read_from_the_database_again():
    partner = make_partner()

    assert key_reads(partner) == 1
    assert key_reads(partner) == 0


def test_a_key_revoked_by_another_process_is_refused_at_once():
    partner = make_partner()
    assert key_reads(partner) == 1
    assert key_reads(partner) == 0  # served from this process's cache from now on

    revoke_in_another_process(partner.api_key.pk)

    response = partner.client.get("/v1/whoami")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"
    assert post(partner, lease_body(partner.project.pk), str(uuid.uuid4())).status_code == 401


def test_a_revoked_key_spends_no_budget_before_its_401():
    partner = make_partner()
    assert partner.client.get("/v1/whoami").status_code == 200

    revoke_in_another_process(partner.api_key.pk)

    assert partner.client.get("/v1/whoami").status_code == 401
    key = partner.api_key
    peek = ratelimit.check(api_key_id=key.pk, tier=key.rate_limit_tier, method="GET", spend=False)
    assert peek.remaining == peek.limit - 1  # only the call made before the revocation


def test_a_version_lost_by_redis_rereads_the_key_and_keeps_it_working():
    partner = make_partner()
    assert key_reads(partner) == 1
    client, _ = keycache._client(settings.REDIS_URL)
    client.delete(keycache.version_key(partner.api_key.pk))  # a Redis restart, an eviction

    assert key_reads(partner) == 1  # stale without its version: read again
    assert key_reads(partner) == 0


def test_tokens_naming_unknown_keys_leave_nothing_in_redis(client):
    key_id = new_api_key_id()  # names no key
    redis_client, _ = keycache._client(settings.REDIS_URL)

    response = client.get("/v1/whoami", HTTP_AUTHORIZATION=f"Bearer lp_live_{key_id[4:]}_secret")

    assert response.status_code == 401
    assert redis_client.exists(keycache.version_key(key_id)) == 0


def test_a_key_revoked_in_this_process_is_refused_at_once():
    partner = make_partner()
    assert key_reads(partner) == 1

    api_key_revoke(api_key=partner.api_key)

    assert partner.client.get("/v1/whoami").status_code == 401


def test_while_redis_is_down_keys_come_from_the_database_and_revocation_holds(settings):
    partner = make_partner()
    assert key_reads(partner) == 1
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    assert partner.client.get("/v1/whoami").status_code == 200
    api_key_revoke(api_key=partner.api_key)  # its version cannot be bumped: logged
    assert partner.client.get("/v1/whoami").status_code == 401


def test_a_new_post_runs_two_statements_and_one_redis_round_trip(monkeypatch):
    import redis

    partner = make_partner()
    post(partner, lease_body(partner.project.pk))  # the key is verified and cached
    calls = []
    execute = redis.Redis.execute_command
    monkeypatch.setattr(
        redis.Redis,
        "execute_command",
        lambda self, *args, **kw: calls.append(args[0]) or execute(self, *args, **kw),
    )

    with CaptureQueriesContext(connection) as captured:
        response = post(partner, lease_body(partner.project.pk), key=str(uuid.uuid4()))

    assert response.status_code == 202
    statements = [q["sql"] for q in captured.captured_queries]
    assert len(statements) == 2, "\n".join(statements)  # Idempotency-Key lookup, the queue
    assert calls == ["EVALSHA"]
