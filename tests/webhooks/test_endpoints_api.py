"""The webhook endpoint API as a partner integrates against it."""

import json
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from layers_ops.partners.models import Scope
from layers_ops.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from layers_ops.webhooks.services import Occurrence, events_emit
from tests.jobs.worker import jobs

pytestmark = pytest.mark.django_db

URL = "/v1/webhook-endpoints"


def create(partner, **overrides):
    body = {"url": "https://hooks.example.com/layers", "events": ["lease_request.assigned"]}
    body.update(overrides)
    return partner.client.post(URL, body, format="json")


def details(response) -> dict:
    return {d["field"]: d["message"] for d in response.json()["error"]["details"]}


def test_creating_an_endpoint_shows_its_secret_once(partner):
    response = create(partner, description="prod", metadata={"team": "growth"})
    assert response.status_code == 201
    body = response.json()
    assert body["signingSecret"].startswith("whsec_")
    endpoint = body["endpoint"]
    assert endpoint["id"].startswith("whe_")
    assert endpoint["organizationId"] == partner.organization.pk
    assert endpoint["projectId"] is None
    assert endpoint["status"] == "active"
    assert endpoint["events"] == ["lease_request.assigned"]
    assert endpoint["metadata"] == {"team": "growth"}
    assert endpoint["consecutiveFailureCount"] == 0
    assert endpoint["lastSuccessAt"] is None

    read = partner.client.get(f"{URL}/{endpoint['id']}")
    assert read.status_code == 200
    assert read.json() == endpoint
    assert body["signingSecret"] not in read.content.decode()
    listed = partner.client.get(URL).json()
    assert body["signingSecret"] not in json.dumps(listed)


def test_an_unknown_event_is_named(partner):
    response = create(partner, events=["lease_request.assigned", "lease.exploded"])
    assert response.status_code == 422
    assert "lease.exploded" in details(response)["events[1]"]


@pytest.mark.parametrize(
    ("events", "message"),
    [([], "at least 1"), ([f"x{i}" for i in range(51)], "no more than 50")],
)
def test_one_to_fifty_events(partner, events, message):
    response = create(partner, events=events)
    assert response.status_code == 422
    assert message in details(response)["events"]


def test_repeated_events_count_once(partner):
    response = create(partner, events=["lease.past_due", "lease.past_due", "wallet.low_balance"])
    assert response.json()["endpoint"]["events"] == ["lease.past_due", "wallet.low_balance"]


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.example.com/layers",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",
        "https://[::1]/hook",
        "https://localhost/hook",
        "https://user:pass@hooks.example.com/hook",
        "ftp://hooks.example.com/hook",
        "hooks.example.com/hook",
        "https://hooks.example.com:99999/hook",
    ],
)
def test_only_public_https_urls_are_taken(partner, url):
    response = create(partner, url=url)
    assert response.status_code == 422
    assert "url" in details(response)


def test_private_urls_are_taken_when_the_setting_allows(partner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    assert create(partner, url="http://127.0.0.1:9999/hook").status_code == 201


def test_a_url_of_5000_characters_is_refused_with_its_length(partner):
    response = create(partner, url="https://hooks.example.com/" + "a" * 5000)
    assert response.status_code == 422
    assert "2048" in details(response)["url"]


def test_a_project_of_another_organization_is_refused(partner, other_partner):
    response = create(partner, projectId=other_partner.project.pk)
    assert response.status_code == 422
    assert "projectId" in details(response)
    assert create(partner, projectId=partner.project.pk).json()["endpoint"]["projectId"] == (
        partner.project.pk
    )


def test_another_organizations_endpoint_is_404_on_every_path(partner, other_partner):
    endpoint_id = create(other_partner).json()["endpoint"]["id"]
    client = partner.client
    assert client.get(f"{URL}/{endpoint_id}").status_code == 404
    assert (
        client.patch(f"{URL}/{endpoint_id}", {"description": "x"}, format="json").status_code == 404
    )
    assert client.delete(f"{URL}/{endpoint_id}").status_code == 404
    assert client.post(f"{URL}/{endpoint_id}/rotate-secret").status_code == 404
    assert client.post(f"{URL}/{endpoint_id}/test").status_code == 404
    assert endpoint_id not in json.dumps(client.get(URL).json())
    assert WebhookEndpoint.objects.get(pk=endpoint_id).description == ""


def test_the_webhooks_scope_is_needed(partner):
    client = partner.client_with(Scope.LEASED_WRITE, Scope.BILLING_READ)
    assert client.get(URL).status_code == 403
    response = client.post(
        URL, {"url": "https://a.example.com", "events": ["test.ping"]}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "FORBIDDEN_SCOPE"


def test_creating_twice_with_one_idempotency_key_makes_one_endpoint(partner):
    key = str(uuid.uuid4())
    body = {"url": "https://hooks.example.com/layers", "events": ["lease.past_due"]}
    first = partner.client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = partner.client.post(URL, body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert WebhookEndpoint.objects.filter(organization=partner.organization).count() == 1


def test_listing_filters_and_pages(partner):
    ids = [create(partner).json()["endpoint"]["id"] for _ in range(3)]
    scoped = create(partner, projectId=partner.project.pk).json()["endpoint"]["id"]
    partner.client.patch(f"{URL}/{ids[0]}", {"status": "paused"}, format="json")

    page = partner.client.get(URL, {"limit": 2}).json()
    assert [e["id"] for e in page["items"]] == [scoped, ids[2]]
    rest = partner.client.get(URL, {"limit": 2, "cursor": page["nextCursor"]}).json()
    assert [e["id"] for e in rest["items"]] == [ids[1], ids[0]]
    assert rest["nextCursor"] is None
    paused = partner.client.get(URL, {"status": "paused"}).json()["items"]
    assert [e["id"] for e in paused] == [ids[0]]
    by_project = partner.client.get(URL, {"projectId": partner.project.pk}).json()["items"]
    assert [e["id"] for e in by_project] == [scoped]
    bad = partner.client.get(URL, {"status": "asleep"})
    assert bad.status_code == 422
    assert "status" in details(bad)


def test_patch_changes_what_it_names(partner):
    endpoint_id = create(partner).json()["endpoint"]["id"]
    response = partner.client.patch(
        f"{URL}/{endpoint_id}",
        {"url": "https://other.example.com/h", "events": ["lease.disconnected"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["url"] == "https://other.example.com/h"
    assert response.json()["events"] == ["lease.disconnected"]
    unchanged = partner.client.patch(f"{URL}/{endpoint_id}", {}, format="json")
    assert unchanged.status_code == 200
    assert unchanged.json()["url"] == "https://other.example.com/h"
    refused = partner.client.patch(f"{URL}/{endpoint_id}", {"status": "auto_paused"}, format="json")
    assert refused.status_code == 422
    unknown = partner.client.patch(f"{URL}/{endpoint_id}", {"secret": "mine"}, format="json")
    assert unknown.status_code == 422
    assert details(unknown) == {"secret": "Unknown field."}


def test_a_paused_endpoint_receives_nothing_and_resuming_sends_what_waited(partner):
    endpoint_id = create(partner).json()["endpoint"]["id"]
    assigned = Occurrence(
        organization_id=partner.organization.pk, type="lease_request.assigned", data={"n": 1}
    )
    partner.client.patch(f"{URL}/{endpoint_id}", {"status": "paused"}, format="json")
    assert events_emit([assigned]) == 0

    # Auto-paused (after repeated failures): events wait, pending, and are not sent.
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        status=EndpointStatus.AUTO_PAUSED, consecutive_failure_count=20
    )
    assert events_emit([assigned]) == 1
    assert jobs(task_name="layers_ops.webhooks.tasks.delivery_send") == []

    resumed = partner.client.patch(f"{URL}/{endpoint_id}", {"status": "active"}, format="json")
    assert resumed.json()["status"] == "active"
    assert resumed.json()["consecutiveFailureCount"] == 0
    (waiting,) = WebhookDelivery.objects.filter(endpoint_id=endpoint_id)
    queued = jobs(task_name="layers_ops.webhooks.tasks.delivery_send")
    assert [job["args"]["delivery_id"] for job in queued] == [waiting.pk]


def test_rotating_keeps_the_old_secret_signing_for_a_day(partner):
    created = create(partner).json()
    endpoint_id = created["endpoint"]["id"]
    response = partner.client.post(f"{URL}/{endpoint_id}/rotate-secret")
    assert response.status_code == 200
    body = response.json()
    assert body["signingSecret"] != created["signingSecret"]
    endpoint = WebhookEndpoint.objects.get(pk=endpoint_id)
    assert endpoint.secret == body["signingSecret"]
    assert endpoint.previous_secret == created["signingSecret"]
    left = endpoint.previous_secret_expires_at - timezone.now()
    assert timedelta(hours=23, minutes=59) < left <= timedelta(hours=24)


def test_the_test_ping_goes_to_that_endpoint_only(partner):
    endpoint_id = create(partner).json()["endpoint"]["id"]
    other_id = create(partner, events=["lease.past_due"]).json()["endpoint"]["id"]
    response = partner.client.post(f"{URL}/{endpoint_id}/test")
    assert response.status_code == 202
    delivery = response.json()
    assert delivery["endpointId"] == endpoint_id
    assert delivery["type"] == "test.ping"
    assert delivery["status"] == "pending"
    event = WebhookEvent.objects.get(pk=delivery["eventId"])
    body = json.loads(event.body)
    assert body["type"] == "test.ping"
    assert body["data"]["id"] == endpoint_id
    assert not WebhookDelivery.objects.filter(endpoint_id=other_id).exists()
    assert len(jobs(task_name="layers_ops.webhooks.tasks.delivery_send")) == 1

    partner.client.patch(f"{URL}/{endpoint_id}", {"status": "paused"}, format="json")
    paused = partner.client.post(f"{URL}/{endpoint_id}/test")
    assert paused.status_code == 409
    assert "paused" in paused.json()["error"]["message"]


def test_deleting_an_endpoint_stops_its_deliveries(partner):
    endpoint_id = create(partner).json()["endpoint"]["id"]
    events_emit(
        [
            Occurrence(
                organization_id=partner.organization.pk, type="lease_request.assigned", data={}
            )
        ]
    )
    assert partner.client.delete(f"{URL}/{endpoint_id}").status_code == 204
    assert partner.client.get(f"{URL}/{endpoint_id}").status_code == 404
    assert not WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).exists()
