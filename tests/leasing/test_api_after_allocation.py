"""What the partner sees through the API once ops has worked the request."""

import pytest
from django.utils.dateparse import parse_datetime

from leasing.services.allocation import allocation_pick_best
from leasing.services.requests import request_close, request_note_add
from tests.conftest import lease_body, request_url
from tests.factories import PoolFactory, SocialAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def queue(partner, **overrides):
    response = partner.client.post(
        request_url(partner.project.pk), lease_body(partner.project.pk, **overrides), format="json"
    )
    assert response.status_code == 202
    from leasing.models import LeaseRequest

    return LeaseRequest.objects.get(public_id=response.json()["requestId"])


def test_partial_allocation_shows_status_time_ids_note_and_leased_accounts(partner):
    ops = UserFactory(username="ops-api")
    pool = PoolFactory(tags=["coffee"], geos=["US"])
    accounts = [SocialAccountFactory(pool=pool, followers=5_000 * (i + 1)) for i in range(4)]
    lease_request = queue(partner, count=5)

    allocation = allocation_pick_best(lease_request=lease_request, count=3, actor=ops)
    during = partner.client.get(f"/v1/leased-accounts/requests/{lease_request.public_id}").json()
    request_note_add(
        lease_request=lease_request, body="internal only", visibility="internal", author=ops
    )
    request_close(
        lease_request=lease_request,
        outcome="partial",
        note="Three fit this week.",
        partner_visible=True,
        actor=ops,
    )
    request_note_add(
        lease_request=lease_request, body="later internal", visibility="internal", author=ops
    )

    assert during["status"] == "requested" and during["assignedAt"] is not None
    polled = partner.client.get(
        f"/v1/projects/{partner.project.pk}/leased-accounts/requests/{lease_request.public_id}"
    ).json()
    assert polled["status"] == "partial"
    assert parse_datetime(polled["assignedAt"]) == allocation.leases[0].assigned_at.replace(
        microsecond=0
    )
    assert sorted(polled["assignedSocialAccountIds"]) == sorted(a.pk for a in accounts[1:])
    assert polled["note"] == "Three fit this week."
    leased = partner.client.get("/v1/leased-accounts").json()["items"]
    assert sorted(item["socialAccountId"] for item in leased) == sorted(a.pk for a in accounts[1:])
    item = next(i for i in leased if i["socialAccountId"] == accounts[3].pk)
    assert item["handle"] == accounts[3].handle and item["followers"] == accounts[3].followers
    assert item["status"] == "assigned" and item["billingStatus"] == "current"
    assert item["monthlyPriceCents"] == 15_000 and item["nextRenewalAt"] is not None


def test_a_full_allocation_reads_assigned(partner):
    pool = PoolFactory(tags=["coffee"])
    for _ in range(2):
        SocialAccountFactory(pool=pool)
    lease_request = queue(partner, count=2)

    allocation_pick_best(lease_request=lease_request, count=2, actor=None)

    listed = partner.client.get(
        f"/v1/projects/{partner.project.pk}/leased-accounts/requests", {"status": "assigned"}
    ).json()["items"]
    assert [item["requestId"] for item in listed] == [lease_request.public_id]
    assert len(listed[0]["assignedSocialAccountIds"]) == 2 and listed[0]["note"] is None
