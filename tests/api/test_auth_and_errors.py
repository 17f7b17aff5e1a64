import pytest
from django.utils import timezone

from layers_ops.partners.models import Scope
from layers_ops.partners.services import api_key_revoke
from tests.conftest import bearer_client, lease_body, request_url

pytestmark = pytest.mark.django_db


def assert_envelope(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["requestId"] == response["X-Request-Id"]
    assert error["requestId"].startswith("req_")
    assert isinstance(error["details"], list)
    return error


def test_whoami_describes_the_key(partner):
    response = partner.client.get("/v1/whoami")

    assert response.status_code == 200
    assert response.json() == {
        "organizationId": partner.organization.pk,
        "organizationName": partner.organization.name,
        "apiKeyId": partner.api_key.pk,
        "scopes": ["*"],
        "rateLimitTier": "internal",
        "environment": "live",
    }


def test_the_key_in_x_api_key_is_accepted_and_wins_over_bearer(partner, other_partner):
    from rest_framework.test import APIClient

    alone = APIClient().get("/v1/whoami", HTTP_X_API_KEY=partner.token)
    both = other_partner.client.get("/v1/whoami", HTTP_X_API_KEY=partner.token)
    wrong_wins = partner.client.get("/v1/whoami", HTTP_X_API_KEY="lp_live_nope")

    assert alone.status_code == both.status_code == 200
    assert alone.json()["apiKeyId"] == both.json()["apiKeyId"] == partner.api_key.pk
    assert_envelope(wrong_wins, 401, "UNAUTHENTICATED")  # no falling back to Bearer
    assert wrong_wins["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("value", ["", "   ", "lp_live_short", "ключ"])
def test_a_malformed_x_api_key_is_401(client, value):
    response = client.get("/v1/whoami", HTTP_X_API_KEY=value)

    assert_envelope(response, 401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer",
        "Bearer lp_live_short",
        "Bearer lp_prod_01HX9Y6K7EJ4T2AAAAAAAAAAAA_secret",
        "Bearer lp_live_01HX9Y6K7EJ4T2AAAAAAAAAAAA_unknownsecret",
        "Bearer a b",
    ],
)
def test_missing_or_malformed_key_is_401(client, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = client.get("/v1/whoami", **extra)

    assert_envelope(response, 401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_wrong_secret_for_a_real_key_is_401(partner):
    token = partner.token[:-1] + ("A" if partner.token[-1] != "A" else "B")

    assert_envelope(bearer_client(token).get("/v1/whoami"), 401, "UNAUTHENTICATED")


def test_key_used_with_the_other_environment_is_401(partner):
    token = partner.token.replace("lp_live_", "lp_test_")

    assert_envelope(bearer_client(token).get("/v1/whoami"), 401, "UNAUTHENTICATED")


def test_revoked_key_stops_working_at_once(partner):
    assert partner.client.get("/v1/whoami").status_code == 200

    api_key_revoke(api_key=partner.api_key)

    assert_envelope(partner.client.get("/v1/whoami"), 401, "UNAUTHENTICATED")


def test_secret_is_stored_only_as_a_hash(partner):
    secret = partner.token.rsplit("_", 1)[1]

    assert len(secret) >= 32 and secret.isalnum()
    assert secret not in partner.api_key.secret_hash
    assert len(partner.api_key.secret_hash) == 64


def test_use_is_recorded_without_a_write_per_request(partner):
    partner.client.get("/v1/whoami")
    partner.api_key.refresh_from_db()
    first_use = partner.api_key.last_used_at
    assert first_use is not None and first_use <= timezone.now()

    partner.client.get("/v1/whoami")
    partner.api_key.refresh_from_db()

    assert partner.api_key.last_used_at == first_use


def test_leased_write_implies_leased_read(partner):
    writer = partner.client_with(Scope.LEASED_WRITE)

    assert writer.get(f"/v1/projects/{partner.project.pk}/leased-accounts").status_code == 200


def test_reads_need_leased_read(partner):
    billing_only = partner.client_with(Scope.BILLING_READ)

    response = billing_only.get(f"/v1/projects/{partner.project.pk}/leased-accounts/requests")

    assert_envelope(response, 403, "FORBIDDEN_SCOPE")


def test_unknown_route_is_enveloped_404(partner):
    assert_envelope(partner.client.get("/v1/nothing/here"), 404, "NOT_FOUND")


def test_unknown_route_without_a_key_is_enveloped_404(client):
    assert_envelope(client.post("/v1/projects"), 404, "NOT_FOUND")


def test_wrong_method_is_enveloped_405(partner):
    response = partner.client.get(request_url(partner.project.pk))

    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")


def test_non_json_body_is_415(partner):
    response = partner.client.post(
        request_url(partner.project.pk), "count=5", content_type="application/x-www-form-urlencoded"
    )

    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_accept_header_cannot_turn_errors_into_html(partner):
    response = partner.client.get("/v1/nothing", HTTP_ACCEPT="text/html")
    assert_envelope(response, 404, "NOT_FOUND")
    response = partner.client.get("/v1/whoami", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


def test_unexpected_error_is_500_internal_without_traceback(partner, monkeypatch, caplog):
    from leasing.services import requests

    def explode(**kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(requests, "lease_request_queue", explode)
    partner.client.raise_request_exception = False

    response = partner.client.post(
        request_url(partner.project.pk), lease_body(partner.project.pk), format="json"
    )

    error = assert_envelope(response, 500, "INTERNAL")
    assert "secret internals" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert error["details"] == []
    # Support finds the traceback in the logs by the id the partner quotes.
    assert error["requestId"] in caplog.text and "secret internals" in caplog.text


def test_every_answer_has_a_fresh_request_id(partner):
    ids = {partner.client.get("/v1/whoami")["X-Request-Id"] for _ in range(3)}

    assert len(ids) == 3


def test_forbidden_answers_still_report_the_budget(partner):
    reader = partner.client_with(Scope.LEASED_READ)

    response = reader.post(
        request_url(partner.project.pk), lease_body(partner.project.pk), format="json"
    )

    assert response.status_code == 403
    assert response["X-RateLimit-Endpoint-Class"] == "write"
    assert "X-RateLimit-Remaining" in response


def test_oversized_body_is_413(partner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = lease_body(partner.project.pk, target="t" * 20_000)

    response = partner.client.post(request_url(partner.project.pk), body, format="json")

    assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("bad_id", ["%C3%A9t%C3%A9", "x" * 65, "a.b"])
def test_ids_outside_the_id_alphabet_are_404(partner, bad_id):
    response = partner.client.get(f"/v1/leased-accounts/requests/{bad_id}")

    assert_envelope(response, 404, "NOT_FOUND")


def test_disallowed_host_is_enveloped_400(partner):
    response = partner.client.get("/v1/whoami", HTTP_HOST="evil.example")

    assert_envelope(response, 400, "BAD_REQUEST")
