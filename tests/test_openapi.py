"""The API keeps its own OpenAPI document: schemathesis, with every check, positive and
negative data, all four phases (examples, coverage, fuzzing, stateful links), finds
nothing: no 5xx, every answer's status, content type, headers and body as documented,
schema-valid requests accepted, schema-invalid ones refused, unknown methods 405.

Six rules are not expressible in a JSON schema and are kept by the server alone, so
schema-valid requests are fitted to them before they are sent: the body's ``projectId``
must be the path's (and the project the key's), a webhook ``url`` must name a public
host and its ``metadata`` keys be 1 to 40 characters, a ``cursor`` must be one the API
gave out, ``niche.language`` must be registered in the BCP-47 registry (the schema
states its shape), and a statement's month must not be in the future (the schema states
the years). Schema-invalid requests are sent as generated.
"""

import itertools
import uuid

import langcodes
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from billing.selectors import billing_month_current
from layers_ops.wsgi import application
from tests.api.test_auth_and_errors import assert_envelope
from tests.conftest import lease_body, make_partner, request_url

CONFIG = SchemathesisConfig.from_dict(
    {
        "generation": {"mode": "all", "max-examples": 25},
        "checks": {"enabled": True},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True},
        },
    }
)
schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", application, config=CONFIG)
HYPOTHESIS = settings(
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

# The coverage phase builds its requests when the tests are collected, before any key
# exists; they carry this stand-in, swapped for the test's key when sent.
PLACEHOLDER_TOKEN = "lp_live_collecting_tests"
_key = {"token": PLACEHOLDER_TOKEN}


@schema.auth(refresh_interval=None)
class PartnerKey:
    """The test partner's API key, as configured auth (so auth checks know it is real)."""

    def get(self, case, ctx):
        return _key["token"]

    def set(self, case, data, ctx):
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@pytest.fixture
def partner(db):
    partner = make_partner()
    _key["token"] = partner.token
    yield partner
    _key["token"] = PLACEHOLDER_TOKEN


@pytest.fixture(autouse=True)
def keep_test_connection():
    """Calls go straight to the WSGI app, so do what Django's test client does: keep the
    request signals from closing the connection that holds the test's transaction."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def fit_to_server_rules(case, partner, given_cursors=frozenset()) -> None:
    """Fit a schema-valid request to the rules no schema can state (see the docstring)."""
    if case.headers and case.headers.get("Authorization") == f"Bearer {PLACEHOLDER_TOKEN}":
        case.headers["Authorization"] = f"Bearer {partner.token}"
    if case.meta is not None and case.meta.generation.mode != GenerationMode.POSITIVE:
        return
    if case.path_parameters and "projectId" in case.path_parameters:
        case.path_parameters["projectId"] = partner.project.pk
    month = (case.path_parameters or {}).get("month")
    this_month = "{}-{:02d}".format(*billing_month_current())
    if isinstance(month, str) and month > this_month:
        case.path_parameters["month"] = this_month
    if isinstance(case.body, dict) and "projectId" in case.body:
        case.body["projectId"] = partner.project.pk
    if isinstance(case.body, dict) and isinstance(case.body.get("url"), str):
        case.body["url"] = "https://hooks.example.com/layers"  # a public https host
    if isinstance(case.body, dict) and isinstance(case.body.get("metadata"), dict):
        values = case.body["metadata"].values()  # keys of 1 to 40 characters
        case.body["metadata"] = {f"key{i}": value for i, value in enumerate(values)}
    if case.query and case.query.get("cursor") not in given_cursors:
        case.query.pop("cursor", None)
    niche = case.body.get("niche") if isinstance(case.body, dict) else None
    language = niche.get("language") if isinstance(niche, dict) else None
    if isinstance(language, str) and not langcodes.tag_is_valid(language):
        niche["language"] = "pt-BR"


def test_openapi_document_lists_every_endpoint_and_error(client):
    document = client.get("/v1/openapi.json").json()
    post = document["paths"]["/v1/projects/{projectId}/leased-accounts/request"]["post"]

    assert set(post["responses"]) == {
        "202", "400", "401", "402", "403", "404", "405", "408", "409", "411", "413", "414", "415",
        "422", "429", "431", "503",
    }  # fmt: skip
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
@HYPOTHESIS
def test_api_conforms_to_its_schema(case, partner):
    fit_to_server_rules(case, partner)

    case.call_and_validate()


def test_stateful_workflows_follow_the_documented_links(partner):
    given_cursors = set()
    sent = itertools.count()

    class Workflow(schema.as_state_machine()):
        def before_call(self, case):
            fit_to_server_rules(case, partner, given_cursors)
            # Hypothesis replays a step expecting the same answer; a partner requestId or
            # Idempotency-Key an earlier scenario used would now answer 409 or a replay.
            number = next(sent)
            if isinstance(case.body, dict) and isinstance(case.body.get("requestId"), str):
                case.body["requestId"] = f"{case.body['requestId'][:40]}-{number}"
            if case.headers and "Idempotency-Key" in case.headers:
                case.headers["Idempotency-Key"] = str(uuid.uuid4())

        def after_call(self, response, case):
            try:
                body = response.json()
            except ValueError:
                return
            if isinstance(body, dict) and body.get("nextCursor"):
                given_cursors.add(body["nextCursor"])

    # The server's state carries over between scenarios, so a replayed or shrunk scenario
    # would not draw the same steps: run fresh ones and report a failure as found.
    Workflow.run(
        settings=settings(
            HYPOTHESIS,
            max_examples=20,
            stateful_step_count=6,
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
    )


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


def _document(client):
    return client.get("/v1/openapi.json").json()


def test_the_document_states_the_bounds_the_server_enforces(client):
    document = _document(client)
    listing = document["paths"]["/v1/leased-accounts"]["get"]
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")["schema"]
    body = document["components"]["schemas"]["LeaseRequestInRequest"]
    niche = document["components"]["schemas"]["NicheInRequest"]

    assert (limit["minimum"], limit["maximum"]) == (1, 200)
    assert body["properties"]["requestId"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"
    assert niche["properties"]["language"]["pattern"].startswith("^")
    country = niche["properties"]["geo"]["items"]["allOf"][0]["$ref"].rsplit("/", 1)[1]
    assert {"US", "BR", "GB"} <= set(document["components"]["schemas"][country]["enum"])
    assert body["additionalProperties"] is False and niche["additionalProperties"] is False


def test_every_answer_documents_its_headers(client):
    document = _document(client)

    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                headers = response["headers"]
                assert headers["X-Request-Id"]["required"] is True, (method, path, status)
                assert "X-RateLimit-Remaining" in headers
                if status == "429":
                    assert headers["Retry-After"]["required"] is True
    post = document["paths"]["/v1/projects/{projectId}/leased-accounts/request"]["post"]
    accepted = post["responses"]["202"]
    assert accepted["headers"]["Location"]["required"] is True
    assert accepted["headers"]["Idempotent-Replayed"]["schema"]["enum"] == ["true"]
    assert accepted["links"]["getProjectLeaseRequest"]["parameters"]["requestId"] == (
        "$response.body#/requestId"
    )


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_document_answers_other_methods_with_the_json_envelope(client, method):
    response = client.generic(method, "/v1/openapi.json")

    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response["Allow"]


def test_options_is_405_not_drf_metadata(partner):
    response = partner.client.options("/v1/whoami")

    assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response["Allow"] and "OPTIONS" not in response["Allow"]


def test_allow_never_names_options(partner):
    response = partner.client.post(
        request_url(partner.project.pk), lease_body(partner.project.pk), format="json"
    )

    assert response.status_code == 202
    assert "OPTIONS" not in response["Allow"]


def test_cancel_and_release_are_documented_with_their_answers_and_links(client):
    document = _document(client)
    cancel = document["paths"][
        "/v1/projects/{projectId}/leased-accounts/requests/{requestId}/cancel"
    ]
    release = document["paths"]["/v1/leased-accounts/{socialAccountId}"]

    assert set(cancel) == {"post"} and set(release) == {"delete"}
    assert "requestBody" not in cancel["post"]
    assert set(cancel["post"]["responses"]) == {
        "200", "400", "401", "403", "404", "405", "408", "409", "414", "422", "429", "431", "503"
    }  # fmt: skip
    assert set(release["delete"]["responses"]) == {
        "200", "400", "401", "403", "404", "405", "408", "409", "414", "429", "431", "503"
    }  # fmt: skip
    assert (
        "already assigned, partial or rejected" in cancel["post"]["responses"]["409"]["description"]
    )
    assert cancel["post"]["responses"]["200"]["headers"]["Location"]["required"] is True
    assert any(p["name"] == "Idempotency-Key" for p in cancel["post"]["parameters"])
    assert cancel["post"]["responses"]["200"]["links"]["getProjectLeaseRequest"]
    accepted = document["paths"]["/v1/projects/{projectId}/leased-accounts/request"]["post"]
    assert accepted["responses"]["202"]["links"]["cancelLeaseRequest"]["parameters"] == {
        "projectId": "$request.path.projectId",
        "requestId": "$response.body#/requestId",
    }
    released = document["components"]["schemas"]["LeaseReleased"]["properties"]
    assert set(released) == {"socialAccountId", "status", "disconnectedReason", "disconnectedAt"}
