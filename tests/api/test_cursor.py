"""List cursors are opaque, signed, and reveal nothing beyond the caller's own rows."""

import base64
import json

import pytest
from django.core import signing

from tests.conftest import lease_body, request_url

pytestmark = pytest.mark.django_db


def create(partner, n):
    for _ in range(n):
        response = partner.client.post(
            request_url(partner.project.pk), lease_body(partner.project.pk), format="json"
        )
        assert response.status_code == 202


def list_url(partner):
    return f"/v1/projects/{partner.project.pk}/leased-accounts/requests"


def test_cursor_carries_no_global_row_id(partner, other_partner):
    create(partner, 2)
    create(other_partner, 3)

    cursor = partner.client.get(list_url(partner), {"limit": 1}).json()["nextCursor"]

    payload = signing.b64_decode(cursor.split(":")[0].encode())
    assert json.loads(payload)[1].startswith("lreq_")  # the caller's own request id
    assert "before" not in payload.decode()


def test_a_forged_cursor_is_a_validation_error(partner):
    forged = base64.urlsafe_b64encode(json.dumps({"before": 10**9}).encode()).decode()
    nested = base64.urlsafe_b64encode(("[" * 5000 + "]" * 5000).encode()).decode()

    for cursor in (forged, nested, "a" * 10_000):
        response = partner.client.get(list_url(partner), {"cursor": cursor})
        assert response.status_code == 422
        assert response.json()["error"]["details"][0]["field"] == "cursor"


def test_a_cursor_from_another_listing_is_refused(partner):
    create(partner, 2)
    cursor = partner.client.get(list_url(partner), {"limit": 1}).json()["nextCursor"]

    response = partner.client.get("/v1/leased-accounts", {"cursor": cursor})

    assert response.status_code == 422


def test_pages_neither_repeat_nor_skip_when_requests_arrive(partner):
    create(partner, 3)
    first = partner.client.get(list_url(partner), {"limit": 2}).json()
    create(partner, 2)
    second = partner.client.get(
        list_url(partner), {"limit": 2, "cursor": first["nextCursor"]}
    ).json()

    seen = [i["requestId"] for i in first["items"] + second["items"]]
    assert len(seen) == len(set(seen)) == 3
    assert second["nextCursor"] is None
