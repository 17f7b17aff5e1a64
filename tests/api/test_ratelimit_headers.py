"""Which answers carry X-RateLimit-*: every answer of an API endpoint once the key is
known to be valid, whatever its status; none given before the key is read (no key, a
bad key, a path that is no endpoint, and what the request guard refuses first). The
partner guide's rate-limit section says exactly this."""

import uuid

import pytest

from layers_ops.partners.models import RateLimitTier, Scope
from tests.conftest import bearer_client, request_url

pytestmark = pytest.mark.django_db

HEADERS = (
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-RateLimit-Endpoint-Class",
)


def carries_rate_limit_headers(response) -> bool:
    present = [name in response for name in HEADERS]
    assert all(present) or not any(present), response.headers
    return all(present)


def test_every_status_of_an_endpoint_answering_a_valid_key_carries_them(partner):
    project = partner.project.pk
    read_only = partner.client_with(Scope.LEASED_READ, tier=RateLimitTier.STANDARD)
    answers = {
        "200": partner.client.get("/v1/whoami"),
        "202": partner.client.post(
            request_url(project),
            {"projectId": project, "count": 1, "niche": {"vertical": "coffee"}},
            format="json",
        ),
        "403": read_only.get("/v1/wallet"),
        "404 (not yours)": partner.client.get(f"/v1/leased-accounts/requests/lreq_{'0' * 26}"),
        "405": partner.client.put("/v1/whoami"),
        "415": partner.client.generic(
            "POST", request_url(project), "{}", content_type="text/plain"
        ),
        "422": partner.client.generic(
            "POST", request_url(project), "{not json", content_type="application/json"
        ),
        "422 (query)": partner.client.get("/v1/leased-accounts?limit=01"),
    }

    for label, response in answers.items():
        assert response.status_code == int(label[:3]), (label, response.content)
        assert carries_rate_limit_headers(response), label


def test_the_429_carries_them_with_retry_after(partner):
    client = partner.client_with(Scope.ALL, tier=RateLimitTier.STANDARD)
    for _ in range(120):
        client.get("/v1/whoami")

    refused = client.get("/v1/whoami")

    assert refused.status_code == 429
    assert carries_rate_limit_headers(refused)
    assert refused["X-RateLimit-Remaining"] == "0"
    assert int(refused["Retry-After"]) >= 1


def test_answers_given_before_the_key_is_read_carry_none(partner):
    answers = {
        "401 (no key)": bearer_client("").get("/v1/whoami"),
        "401 (unknown key)": bearer_client(f"lp_live_{uuid.uuid4().hex}_x").get("/v1/whoami"),
        "404 (no such endpoint)": partner.client.get("/v1/no-such-endpoint"),
        "404 (/v1 itself)": partner.client.get("/v1"),
        "400 (NUL in the URL)": partner.client.get("/v1/whoami?x=%00"),
        "400 (a Host not served)": partner.client.get("/v1/whoami", HTTP_HOST="evil.example"),
        "411 (chunked body)": partner.client.generic(
            "POST",
            request_url(partner.project.pk),
            "{}",
            content_type="application/json",
            HTTP_TRANSFER_ENCODING="chunked",
        ),
    }

    for label, response in answers.items():
        assert response.status_code == int(label[:3]), (label, response.content)
        assert response["X-Request-Id"].startswith("req_"), label
        assert not carries_rate_limit_headers(response), label
