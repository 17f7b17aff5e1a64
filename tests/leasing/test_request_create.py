import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from layers_ops.partners.models import Scope
from leasing.models import LeaseRequest, RequestStatus
from leasing.sla import sla_due_at
from tests.conftest import lease_body, make_partner, post_raw, request_url

pytestmark = pytest.mark.django_db


def post(partner, body, key=None, client=None, project_id=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return (client or partner.client).post(
        request_url(project_id or partner.project.pk), body, format="json", **headers
    )


def fields_of(response) -> dict[str, str]:
    return {d["field"]: d["message"] for d in response.json()["error"]["details"]}


def test_seed_example_is_accepted_into_the_queue(partner):
    response = post(partner, lease_body(partner.project.pk), key=str(uuid.uuid4()))

    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"requestId", "status", "submittedAt"}
    assert body["requestId"].startswith("lreq_")
    assert body["status"] == "requested"
    assert body["submittedAt"].endswith("Z")
    assert response["Location"].endswith(
        f"/v1/projects/{partner.project.pk}/leased-accounts/requests/{body['requestId']}"
    )
    queued = LeaseRequest.objects.get(public_id=body["requestId"])
    assert queued.status == RequestStatus.REQUESTED
    assert (queued.count, queued.vertical, queued.geo) == (5, "coffee", ["US", "CA", "GB"])
    assert queued.api_key == partner.api_key


def test_location_header_polls_the_new_request(partner):
    response = post(partner, lease_body(partner.project.pk, note="rush please"))

    polled = partner.client.get(response["Location"])

    assert polled.status_code == 200
    assert polled.json()["requestId"] == response.json()["requestId"]
    assert polled.json()["status"] == "requested"


def test_request_is_not_charged(partner):
    from billing.selectors import wallet_balance_cents

    before = wallet_balance_cents(organization_id=partner.organization.pk)
    post(partner, lease_body(partner.project.pk, count=50))

    assert wallet_balance_cents(organization_id=partner.organization.pk) == before


def test_partner_request_id_is_kept_and_pollable(partner):
    response = post(partner, lease_body(partner.project.pk, requestId="acme-2026-11-24_001"))

    assert response.status_code == 202
    assert response.json()["requestId"] == "acme-2026-11-24_001"
    assert partner.client.get("/v1/leased-accounts/requests/acme-2026-11-24_001").status_code == 200


def test_reused_partner_request_id_is_conflict(partner):
    post(partner, lease_body(partner.project.pk, requestId="dup-1"))

    response = post(partner, lease_body(partner.project.pk, requestId="dup-1", count=2))

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert fields_of(response) == {"requestId": "Already used."}
    assert LeaseRequest.objects.filter(public_id="dup-1").count() == 1


def test_same_partner_request_id_in_two_orgs_is_fine(partner, other_partner):
    assert post(partner, lease_body(partner.project.pk, requestId="r1")).status_code == 202
    assert (
        post(other_partner, lease_body(other_partner.project.pk, requestId="r1")).status_code == 202
    )


@pytest.mark.parametrize(
    ("count", "message_part"),
    [
        (0, "greater than or equal to 1"),
        (51, "less than or equal to 50"),
        (2**70, "less than or equal to 50"),  # an integer still, past 64 bits
        ("5", "integer"),
        (5.0, "integer"),
        (True, "integer"),
        (None, "null"),
    ],
)
def test_count_must_be_an_integer_from_1_to_50(partner, count, message_part):
    response = post(partner, lease_body(partner.project.pk, count=count))

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "VALIDATION"
    assert message_part in fields_of(response)["count"]
    assert not LeaseRequest.objects.exists()


def test_every_failing_field_is_listed_by_path(partner):
    body = lease_body(
        partner.project.pk,
        count=0,
        niche={"audience": 7, "language": "not a tag!", "geo": ["US", "XX", "usa"]},
        note="n" * 2001,
        requestId="has spaces",
    )

    response = post(partner, body)

    assert response.status_code == 422
    assert set(fields_of(response)) == {
        "count",
        "niche.vertical",
        "niche.audience",
        "niche.language",
        "niche.geo[1]",
        "niche.geo[2]",
        "note",
        "requestId",
    }


def test_missing_vertical_and_blank_vertical_are_refused(partner):
    missing = post(partner, lease_body(partner.project.pk, niche={"language": "en"}))
    blank = post(partner, lease_body(partner.project.pk, niche={"vertical": "   "}))

    assert fields_of(missing) == {"niche.vertical": "This field is required."}
    assert "niche.vertical" in fields_of(blank)


def test_geo_codes_are_iso_alpha2_and_normalized_to_upper_case(partner):
    response = post(partner, lease_body(partner.project.pk, niche={"vertical": "x", "geo": ["br"]}))

    assert response.status_code == 202
    assert LeaseRequest.objects.get().geo == ["BR"]


def test_project_id_in_body_must_match_path(partner):
    response = post(partner, lease_body("prj_someoneelse"))

    assert response.status_code == 422
    assert fields_of(response) == {"projectId": "Must match the projectId in the path."}


def test_unknown_fields_are_refused_by_name(partner):
    body = lease_body(partner.project.pk, priority="high")
    body["niche"]["mood"] = "cosy"

    response = post(partner, body)

    assert response.status_code == 422
    assert fields_of(response) == {"priority": "Unknown field.", "niche.mood": "Unknown field."}


def test_optional_fields_may_be_null_or_absent(partner):
    body = {
        "projectId": partner.project.pk,
        "count": 1,
        "niche": {"vertical": "fitness", "audience": None, "language": None, "geo": None},
        "target": None,
        "note": None,
        "requestId": None,
    }

    response = post(partner, body)

    assert response.status_code == 202
    assert response.json()["requestId"].startswith("lreq_")


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"'])
def test_malformed_or_non_object_json_is_validation_error(partner, raw):
    response = post_raw(partner, raw)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION"
    assert error["requestId"] == response["X-Request-Id"]


def test_wallet_below_one_account_month_is_402_and_nothing_queued(db):
    poor = make_partner(wallet_cents=14_999)

    response = post(poor, lease_body(poor.project.pk))

    assert response.status_code == 402
    assert response.json()["error"]["code"] == "BILLING_EXHAUSTED"
    assert not LeaseRequest.objects.exists()


def test_wallet_of_exactly_one_month_is_enough(db):
    just_enough = make_partner(wallet_cents=15_000)

    assert post(just_enough, lease_body(just_enough.project.pk, count=50)).status_code == 202


def test_project_of_another_org_is_not_found(partner, other_partner):
    response = post(
        partner, lease_body(other_partner.project.pk), project_id=other_partner.project.pk
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
    assert not LeaseRequest.objects.exists()


def test_key_without_leased_write_is_forbidden(partner):
    reader = partner.client_with(Scope.LEASED_READ, Scope.BILLING_READ)

    response = post(partner, lease_body(partner.project.pk), client=reader)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN_SCOPE"
    assert "leased:write" in response.json()["error"]["message"]


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_post_runs_at_most_five_statements():
    # As in production: Redis holds the rate-limit counters, no test transaction around.
    partner = make_partner()
    post(partner, lease_body(partner.project.pk))  # the key's first use records last_used_at

    with CaptureQueriesContext(connection) as captured:
        response = post(partner, lease_body(partner.project.pk), key=str(uuid.uuid4()))

    assert response.status_code == 202
    statements = [q["sql"] for q in captured.captured_queries]
    assert len(statements) <= 5, "\n".join(statements)


@pytest.mark.parametrize("tag", ["en", "en-US", "pt-BR", "zh-Hant-TW", "sr-Latn-RS", "de-CH-1901"])
def test_well_formed_registered_language_tags_are_accepted(partner, tag):
    body = lease_body(partner.project.pk, niche={"vertical": "coffee", "language": tag})

    assert post(partner, body).status_code == 202
    assert LeaseRequest.objects.get().language == tag


@pytest.mark.parametrize("tag", ["en_US", "en-", "e", "english", "xyz", "123"])
def test_malformed_or_unregistered_language_tags_are_refused(partner, tag):
    body = lease_body(partner.project.pk, niche={"vertical": "coffee", "language": tag})

    response = post(partner, body)

    assert response.status_code == 422
    assert "BCP-47" in fields_of(response)["niche.language"]


def test_a_queued_request_carries_its_sla_due_time(partner):
    response = partner.client.post(
        request_url(partner.project.pk), lease_body(partner.project.pk), format="json"
    )

    lease_request = LeaseRequest.objects.get(public_id=response.json()["requestId"])
    assert lease_request.sla_due_at == sla_due_at(lease_request.submitted_at)


def test_a_country_named_twice_is_kept_once(partner):
    niche = {"vertical": "coffee", "geo": ["us", "CA", "US", "ca"]}
    response = partner.client.post(
        request_url(partner.project.pk),
        lease_body(partner.project.pk, niche=niche),
        format="json",
    )

    assert response.status_code == 202
    request_id = response.json()["requestId"]
    polled = partner.client.get(f"/v1/leased-accounts/requests/{request_id}").json()
    assert polled["niche"]["geo"] == ["US", "CA"]
