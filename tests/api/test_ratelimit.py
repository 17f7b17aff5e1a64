import uuid

import pytest
from django.conf import settings

from layers_ops.api import ratelimit
from layers_ops.partners.models import RateLimitTier
from tests.conftest import lease_body, make_partner, post_raw, request_url

pytestmark = pytest.mark.django_db

T0 = 1_800_000_000.0


def hits(key_id, times, *, method="POST", tier=RateLimitTier.STANDARD):
    return [ratelimit.check(api_key_id=key_id, tier=tier, method=method, now=t) for t in times]


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def store(request, settings):
    """Run a test against each counter store: the database, and Redis when it is set."""
    if request.param == "database":
        settings.REDIS_URL = ""
    return request.param


def test_admits_exactly_the_limit_then_refuses(store):
    decisions = hits(f"k-{uuid.uuid4()}", [T0 + i * 0.01 for i in range(61)])

    assert [d.allowed for d in decisions] == [True] * 60 + [False]
    assert decisions[59].remaining == 0
    assert decisions[60].retry_after >= 1


def test_no_sixty_second_span_admits_more_than_the_limit(store):
    # Bursts at the edges of a naive fixed window: 60 at :59.9 and 60 more at 1:00.1.
    key = f"k-{uuid.uuid4()}"
    edge = (T0 // 60 + 1) * 60
    times = [edge - 0.1] * 60 + [edge + 0.1] * 60 + [edge + 59.0] * 10 + [edge + 61.5] * 70
    decisions = hits(key, times)
    admitted = [t for t, d in zip(times, decisions, strict=True) if d.allowed]

    for start in admitted:
        in_span = [t for t in admitted if start <= t < start + 60]
        assert len(in_span) <= 60
    assert len(admitted) == 120  # the budget does come back once the window has passed


def test_budget_returns_as_the_window_slides(store):
    key = f"k-{uuid.uuid4()}"
    hits(key, [T0] * 60)

    assert not hits(key, [T0 + 60.5])[0].allowed
    assert hits(key, [T0 + 61.0])[0].allowed


def test_retry_after_says_when_a_request_would_be_admitted(store):
    key = f"k-{uuid.uuid4()}"
    hits(key, [T0] * 60)
    refused = hits(key, [T0 + 10])[0]

    assert refused.retry_after == 51
    assert hits(key, [T0 + 10 + refused.retry_after])[0].allowed


def test_reads_and_writes_have_separate_budgets(store):
    key = f"k-{uuid.uuid4()}"
    hits(key, [T0] * 60, method="POST")

    read = hits(key, [T0], method="GET")[0]
    assert read.allowed and read.limit == 120 and read.endpoint_class == "read"


def test_peeking_does_not_spend(store):
    key = f"k-{uuid.uuid4()}"
    for _ in range(5):
        ratelimit.check(api_key_id=key, tier="standard", method="POST", now=T0, spend=False)

    assert hits(key, [T0])[0].remaining == 59


@pytest.mark.parametrize(
    ("tier", "read", "write"),
    [("standard", 120, 60), ("pilot", 1200, 600), ("partner", 6000, 3000)],
)
def test_tiers_set_the_limits(tier, read, write):
    assert ratelimit.LIMITS[tier] == {"read": read, "write": write}
    assert ratelimit.LIMITS["internal"] == {"read": 1_000_000, "write": 1_000_000}


def test_every_answer_carries_the_rate_limit_headers(partner):
    ok = partner.client.get("/v1/whoami")
    missing = partner.client.get(f"/v1/projects/{partner.project.pk}/leased-accounts/requests/x")

    for response in (ok, missing):
        assert response["X-RateLimit-Limit"] == "1000000"
        assert response["X-RateLimit-Endpoint-Class"] == "read"
        assert int(response["X-RateLimit-Remaining"]) < 1_000_000
        assert int(response["X-RateLimit-Reset"]) > 1_700_000_000


def test_spent_write_budget_is_429_with_retry_after(db):
    standard = make_partner(tier=RateLimitTier.STANDARD)
    url = request_url(standard.project.pk)
    for _ in range(60):
        assert (
            standard.client.post(url, lease_body(standard.project.pk), format="json").status_code
            == 202
        )

    refused = standard.client.post(url, lease_body(standard.project.pk), format="json")

    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "RATE_LIMITED"
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert refused["X-RateLimit-Remaining"] == "0"
    assert refused["X-RateLimit-Endpoint-Class"] == "write"
    # Reads still have their own budget.
    assert standard.client.get("/v1/whoami").status_code == 200


def test_settings_name_the_store(settings):
    settings.REDIS_URL = ""
    assert isinstance(ratelimit.store_for(settings.REDIS_URL), ratelimit.DatabaseStore)


@pytest.mark.redis
def test_redis_store_is_used_when_redis_url_is_set():
    assert isinstance(ratelimit.store_for(settings.REDIS_URL), ratelimit.RedisStore)


def test_requests_are_still_limited_when_redis_is_down(settings, caplog):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    key = f"k-{uuid.uuid4()}"

    decisions = hits(key, [T0] * 61)

    assert [d.allowed for d in decisions] == [True] * 60 + [False]
    assert "counting in the database" in caplog.text


def test_a_replay_is_answered_even_when_the_budget_is_spent(db):
    standard = make_partner(tier=RateLimitTier.STANDARD)
    url = request_url(standard.project.pk)
    key = str(uuid.uuid4())
    first = standard.client.post(
        url, lease_body(standard.project.pk), format="json", HTTP_IDEMPOTENCY_KEY=key
    )
    for _ in range(59):
        standard.client.post(url, lease_body(standard.project.pk), format="json")
    assert (
        standard.client.post(url, lease_body(standard.project.pk), format="json").status_code == 429
    )

    replay = standard.client.post(
        url, lease_body(standard.project.pk), format="json", HTTP_IDEMPOTENCY_KEY=key
    )

    assert replay.status_code == 202
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert replay["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize(
    ("raw", "key"), [(b'{"count": 1}', "not-a-uuid"), (b"{broken", str(uuid.uuid4()))]
)
def test_requests_refused_for_a_bad_key_or_body_still_spend_and_report(partner, raw, key):
    response = post_raw(partner, raw, key)

    assert response.status_code == 422
    assert response["X-RateLimit-Remaining"] == str(1_000_000 - 1)
