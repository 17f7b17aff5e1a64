"""With the database unreachable the API says so honestly: 503 SERVICE_UNAVAILABLE with
Retry-After, in the envelope, never a 500."""

import uuid

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client
from rest_framework.test import APIClient

from tests.api.raising_urls import RAISED
from tests.conftest import lease_body, request_url
from tests.ops.conftest import database_unreachable

pytestmark = pytest.mark.django_db(transaction=True)


def _assert_unavailable(response):
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "SERVICE_UNAVAILABLE"
    assert error["requestId"] == response["X-Request-Id"]
    text = response.content.decode()
    assert "127.0.0.1" not in text and "psycopg" not in text.lower()


def test_partner_reads_are_503_with_retry_after_while_the_database_is_gone(partner, request):
    request.getfixturevalue("database_gone")
    for path in ("/v1/whoami", "/v1/wallet", f"/v1/projects/{partner.project.pk}/leased-accounts"):
        _assert_unavailable(partner.client.get(path))


def test_a_lease_request_is_503_not_500_while_the_database_is_gone(partner, request):
    request.getfixturevalue("database_gone")
    response = partner.client.post(
        request_url(partner.project.pk),
        lease_body(partner.project.pk),
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    _assert_unavailable(response)


def test_the_api_answers_again_once_the_database_is_back(partner):
    with database_unreachable():
        _assert_unavailable(partner.client.get("/v1/whoami"))
    assert partner.client.get("/v1/whoami").status_code == 200
    assert Client().get("/readyz").status_code == 200


def test_service_unavailable_is_counted_in_the_metrics(partner, request):
    from layers_ops.ops.metrics import DB_UNAVAILABLE

    before = DB_UNAVAILABLE._value.get()
    request.getfixturevalue("database_gone")
    partner.client.get("/v1/whoami")
    assert DB_UNAVAILABLE._value.get() == before + 1


@pytest.mark.urls("tests.api.raising_urls")
@pytest.mark.parametrize("where", ["api", "plain"])
@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_a_database_error_in_any_v1_view_is_503_not_500(partner, monkeypatch, where, error):
    """A partner (DRF) view and a plain Django view under /v1 answer alike."""
    monkeypatch.setitem(RAISED, "db", error("connection to server lost"))
    _assert_unavailable(partner.client.get(f"/v1/raising/{where}/db"))


class _BrokenBeforeTheView:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("server closed the connection unexpectedly")


def test_a_database_error_in_a_middleware_is_503_not_500(partner, settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}._BrokenBeforeTheView"]
    client = APIClient(raise_request_exception=False)  # answer as the server would
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {partner.token}")
    _assert_unavailable(client.get("/v1/whoami"))
