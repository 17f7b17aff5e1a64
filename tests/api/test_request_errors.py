"""Requests Django refuses to read (too many parameters, too big, a bad Host, ...) are
the client's fault: under /v1 they answer the 4xx envelope with X-Request-Id, never a
500, whether a partner view or plain Django code met them."""

import pytest

from tests.api.test_auth_and_errors import assert_envelope
from tests.api.test_head import get_endpoints

pytestmark = pytest.mark.django_db


def too_many_parameters(n=1_001) -> str:
    return "&".join(f"p{i}=1" for i in range(n))


def list_endpoints(partner):
    project = f"/v1/projects/{partner.project.pk}"
    return [
        f"{project}/leased-accounts/requests",
        f"{project}/leased-accounts",
        "/v1/leased-accounts",
        "/v1/wallet/ledger",
    ]


def test_over_1000_query_parameters_on_a_list_is_400_not_500(partner):
    for url in list_endpoints(partner):
        response = partner.client.get(f"{url}?{too_many_parameters()}")

        error = assert_envelope(response, 400, "BAD_REQUEST")
        assert "1,000" in error["message"], url


def test_over_1000_query_parameters_by_head_is_400_too(partner):
    for url in list_endpoints(partner):
        response = partner.client.head(f"{url}?{too_many_parameters()}")

        assert response.status_code == 400, url
        assert response["X-Request-Id"].startswith("req_")


def test_no_get_endpoint_answers_500_to_too_many_parameters(partner):
    for url in get_endpoints(partner):
        response = partner.client.get(f"{url}?{too_many_parameters()}")

        assert response.status_code in (200, 400), url
        assert response["X-Request-Id"].startswith("req_")


def test_1000_query_parameters_are_still_read(partner):
    response = partner.client.get(f"/v1/wallet/ledger?{too_many_parameters(999)}&limit=2")

    assert response.status_code == 200
    assert len(response.json()["items"]) == 1  # the opening top-up


@pytest.mark.urls("tests.api.raising_urls")
@pytest.mark.parametrize("where", ["api", "plain"])
@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("too-many-fields", 400, "BAD_REQUEST"),
        ("too-many-files", 400, "BAD_REQUEST"),
        ("too-big", 413, "PAYLOAD_TOO_LARGE"),
        ("suspicious", 400, "BAD_REQUEST"),
        ("suspicious-file", 400, "BAD_REQUEST"),
        ("disallowed-host", 400, "BAD_REQUEST"),
        ("bad-request", 400, "BAD_REQUEST"),
        ("multipart", 400, "BAD_REQUEST"),
        ("unreadable", 400, "BAD_REQUEST"),
    ],
)
def test_django_request_errors_under_v1_are_the_envelope(partner, where, name, status, code):
    response = partner.client.get(f"/v1/raising/{where}/{name}")

    error = assert_envelope(response, status, code)
    assert "Too" not in error["message"] and "Odd" not in error["message"]  # ours, not Django's


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("path", ["/v1/whoami", "/v1/no-such-endpoint", "/v1"])
def test_a_host_the_service_does_not_serve_is_the_envelope_even_under_debug(
    partner, settings, debug, path
):
    settings.DEBUG = debug

    response = partner.client.get(path, HTTP_HOST="evil.example")

    error = assert_envelope(response, 400, "BAD_REQUEST")
    assert error["message"] == "The request names a Host this service does not serve."
    assert response["Content-Type"] == "application/json"
    assert b"<html" not in response.content.lower()
