"""The API keeps its own OpenAPI document: generated requests never meet a 5xx, and every
answer matches the documented status codes, content type, headers and body shapes."""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from layers_ops.wsgi import application
from tests.conftest import make_partner

schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", application)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def partner_headers(db):
    partner = make_partner()
    return partner, {"Authorization": f"Bearer {partner.token}"}


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Calls go straight to the WSGI app, so do what Django's test client does: keep the
    request signals from closing the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_openapi_document_lists_every_endpoint_and_error(client):
    document = client.get("/v1/openapi.json").json()
    post = document["paths"]["/v1/projects/{projectId}/leased-accounts/request"]["post"]

    assert set(post["responses"]) == {"202", "401", "402", "403", "404", "409", "422", "429"}
    assert {p for p in document["paths"]} >= {
        "/v1/whoami",
        "/v1/leased-accounts",
        "/v1/leased-accounts/requests/{requestId}",
        "/v1/projects/{projectId}/leased-accounts",
        "/v1/projects/{projectId}/leased-accounts/requests",
        "/v1/projects/{projectId}/leased-accounts/requests/{requestId}",
    }


def test_reference_docs_are_served_without_the_network(client):
    page = client.get("/docs/")

    assert page.status_code == 200
    assert b"/static/drf_spectacular_sidecar/" in page.content


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_api_conforms_to_its_schema(case, partner_headers):
    partner, headers = partner_headers
    if case.path_parameters and "projectId" in case.path_parameters:
        case.path_parameters["projectId"] = partner.project.pk
    if isinstance(case.body, dict) and "projectId" in case.body:
        case.body["projectId"] = partner.project.pk

    response = case.call(headers=headers)

    case.validate_response(response, checks=CHECKS)


def test_every_operation_describes_itself_not_the_plumbing(client):
    document = client.get("/v1/openapi.json").json()

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            assert "DRF" not in operation.get("description", ""), (method, path)


def test_openapi_document_is_valid_and_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "openapi.yml")
    )

    assert (tmp_path / "openapi.yml").read_text().startswith("openapi: 3")


def test_reference_docs_fetch_nothing_from_other_hosts(client):
    page = client.get("/docs/").content.decode()

    assert "googleapis" not in page and "gstatic" not in page
    assert "https://" not in page
