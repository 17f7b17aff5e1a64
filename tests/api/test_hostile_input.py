"""What a hostile or careless client sends is refused in the envelope, cheaply, never 500."""

import json
import uuid

import pytest
from django.test import Client

from layers_ops.api.exceptions import MAX_DETAILS
from leasing.models import LeaseRequest
from tests.api.test_auth_and_errors import assert_envelope
from tests.conftest import lease_body, make_partner, post_raw, request_url

pytestmark = pytest.mark.django_db


def body_with(partner, **overrides) -> str:
    return json.dumps(lease_body(partner.project.pk, **overrides))


# Size and count rules come before per-item work; details are capped ----------------------


def test_a_huge_geo_list_is_refused_without_listing_every_entry(partner):
    niche = {"vertical": "coffee", "geo": ["ZZ"] * 400_000}

    response = post_raw(partner, body_with(partner, niche=niche))

    error = assert_envelope(response, 422, "VALIDATION")
    assert len(response.content) < 2_000
    assert len(error["details"]) == 1


def test_a_geo_list_over_its_length_is_refused_by_its_length_not_per_entry(partner):
    niche = {"vertical": "coffee", "geo": ["ZZ"] * 251}

    response = post_raw(partner, body_with(partner, niche=niche))

    error = assert_envelope(response, 422, "VALIDATION")
    assert error["details"] == [
        {"field": "niche.geo", "message": "Ensure this field has no more than 250 elements."}
    ]


def test_many_unknown_fields_are_refused_at_once(partner):
    body = {**lease_body(partner.project.pk), **{f"f{i}": 1 for i in range(150_000)}}

    response = post_raw(partner, json.dumps(body))

    error = assert_envelope(response, 422, "VALIDATION")
    assert len(error["details"]) == 1
    assert len(response.content) < 2_000


def test_details_list_the_first_problems_and_say_how_many_more(partner):
    body = {**lease_body(partner.project.pk), **{f"extra{i:03}": 1 for i in range(120)}}

    response = post_raw(partner, json.dumps(body))

    details = assert_envelope(response, 422, "VALIDATION")["details"]
    assert len(details) == MAX_DETAILS + 1
    assert details[0] == {"field": "extra000", "message": "Unknown field."}
    assert details[-1] == {"field": None, "message": "... and 70 more problems not listed."}


def test_the_count_of_problems_left_out_is_exact(partner):
    body = {**lease_body(partner.project.pk, count="5"), **{f"x{i:04}": 1 for i in range(4_000)}}
    body["niche"] = {**body["niche"], **{f"n{i:03}": 1 for i in range(60)}}

    response = post_raw(partner, json.dumps(body))

    details = assert_envelope(response, 422, "VALIDATION")["details"]
    assert len(details) == MAX_DETAILS + 1
    assert details[0]["field"] == "count"
    # 1 + 4,000 + 60 problems, 50 shown.
    assert details[-1]["message"] == "... and 4011 more problems not listed."


@pytest.mark.parametrize(
    ("field", "overrides"),
    [
        ("note", {"note": "n" * 2_300_000}),
        ("projectId", {"projectId": "p" * 2_300_000}),
        ("niche.geo[0]", {"niche": {"vertical": "coffee", "geo": ["g" * 2_300_000]}}),
        ("niche.language", {"niche": {"vertical": "coffee", "language": "e" * 2_300_000}}),
    ],
)
def test_a_huge_string_is_refused_for_its_length_and_not_echoed(partner, field, overrides):
    response = post_raw(partner, body_with(partner, **overrides))

    details = assert_envelope(response, 422, "VALIDATION")["details"]
    assert [d["field"] for d in details] == [field]
    assert "no more than" in details[0]["message"]
    assert len(response.content) < 1_000


def test_a_huge_unknown_field_name_is_clipped_in_the_answer(partner):
    raw = body_with(partner).replace('"count"', '"' + "u" * 2_300_000 + '": 1, "count"')

    details = assert_envelope(post_raw(partner, raw), 422, "VALIDATION")["details"]
    assert details[0]["message"] == "Unknown field."
    assert len(details[0]["field"]) == 200
    assert details[0]["field"].endswith("\u2026")


# Lone surrogates and deep nesting --------------------------------------------------------


@pytest.mark.parametrize(
    "niche",
    [
        '{"vertical": "coffee", "geo": ["\\ud800"]}',
        '{"vertical": "coffee", "language": "\\ud800"}',
        '{"vertical": "coffee", "\\udfff": 1}',
    ],
)
def test_a_lone_surrogate_echoed_in_an_error_is_422_not_500(partner, niche):
    raw = f'{{"projectId": "{partner.project.pk}", "count": 1, "niche": {niche}}}'

    response = post_raw(partner, raw)

    error = assert_envelope(response, 422, "VALIDATION")
    assert any(d["field"] and d["field"].startswith("niche.") for d in error["details"])


def test_a_lone_surrogate_as_an_unknown_top_level_field_is_422(partner):
    raw = f'{{"projectId": "{partner.project.pk}", "count": 1, "\\ud800": 2}}'

    assert_envelope(post_raw(partner, raw), 422, "VALIDATION")


@pytest.mark.parametrize("depth", [17, 100, 1_000, 100_000])
def test_deeply_nested_json_is_422_not_500(partner, depth):
    raw = body_with(partner, note="N").replace('"N"', "[" * depth + "]" * depth)

    error = assert_envelope(post_raw(partner, raw), 422, "VALIDATION")
    assert "nests deeper" in error["message"]


def test_deeply_nested_json_with_an_idempotency_key_spends_the_budget(db):
    partner = make_partner(tier="standard")
    raw = body_with(partner, note="N").replace('"N"', "[" * 1_000 + "]" * 1_000)

    response = post_raw(partner, raw, key=str(uuid.uuid4()))

    assert_envelope(response, 422, "VALIDATION")
    assert response["X-RateLimit-Remaining"] == "59"


def test_malformed_json_with_a_key_already_used_is_still_a_parse_error(partner):
    key = str(uuid.uuid4())
    assert post_raw(partner, body_with(partner), key=key).status_code == 202

    response = post_raw(partner, '{"projectId": ', key=key)

    error = assert_envelope(response, 422, "VALIDATION")
    assert error["message"] == "The body is not valid JSON."


# Content types and bodies ----------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "*/*",
        "application/*",
        "application/json; charset=bogus",
        "application/json; charset=latin-1",
        "text/plain",
        "",
    ],
)
def test_anything_but_json_in_utf8_is_415(partner, content_type):
    response = partner.client.generic(
        "POST", request_url(partner.project.pk), body_with(partner), content_type=content_type
    )

    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert LeaseRequest.objects.count() == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"]
)
def test_json_in_utf8_is_accepted(partner, content_type):
    response = partner.client.generic(
        "POST", request_url(partner.project.pk), body_with(partner), content_type=content_type
    )

    assert response.status_code == 202


def test_a_body_that_is_not_utf8_is_415(partner):
    body = {"projectId": partner.project.pk, "count": 1, "niche": {"vertical": "caf\u00e9"}}
    raw = json.dumps(body, ensure_ascii=False).encode("latin-1")

    assert_envelope(post_raw(partner, raw), 415, "UNSUPPORTED_MEDIA_TYPE")


def test_a_chunked_body_is_refused_with_411_not_read_as_empty(partner):
    response = Client().generic(
        "POST",
        request_url(partner.project.pk),
        body_with(partner),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {partner.token}",
        HTTP_TRANSFER_ENCODING="chunked",
    )

    error = assert_envelope(response, 411, "LENGTH_REQUIRED")
    assert "Content-Length" in error["message"]
    assert LeaseRequest.objects.count() == 0


# Unknown paths, whatever the method ------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "GET"])
@pytest.mark.parametrize("path", ["{U}/", "/v1/nope", "/v1/"])
def test_any_method_on_an_unknown_api_path_is_the_404_envelope(partner, method, path):
    url = path.format(U=request_url(partner.project.pk))

    response = Client(enforce_csrf_checks=True).generic(
        method, url, body_with(partner), content_type="application/json"
    )

    assert_envelope(response, 404, "NOT_FOUND")


def test_the_api_root_without_a_slash_is_the_404_envelope_not_a_redirect(client):
    assert_envelope(client.get("/v1"), 404, "NOT_FOUND")
    assert_envelope(client.post("/v1"), 404, "NOT_FOUND")


# NUL characters --------------------------------------------------------------------------


def test_a_nul_in_an_api_url_is_400(partner):
    assert_envelope(partner.client.get("/v1/leased-accounts/requests/a%00b"), 400, "BAD_REQUEST")
    assert_envelope(partner.client.get("/v1/leased-accounts?status=%00"), 400, "BAD_REQUEST")
