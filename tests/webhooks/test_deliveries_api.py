"""Deliveries as a partner reads and replays them, and which events reach which
endpoint."""

import json

import pytest
from django.db import transaction

from layers_ops.webhooks.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from layers_ops.webhooks.services import Occurrence, events_emit, secret_new
from tests.jobs.worker import jobs

pytestmark = pytest.mark.django_db


def endpoint_for(partner, *, events=("lease_request.assigned",), project=None):
    return WebhookEndpoint.objects.create(
        organization=partner.organization,
        project=project,
        url="https://hooks.example.com/layers",
        events=list(events),
        secret=secret_new(),
    )


def occurrence(partner, type="lease_request.assigned", *, project=None, data=None):
    return Occurrence(
        organization_id=partner.organization.pk,
        project_id=project.pk if project else None,
        type=type,
        data=data or {"requestId": "lreq_x"},
    )


def test_an_event_goes_once_to_each_subscribed_endpoint_of_its_organization(partner, other_partner):
    everything = endpoint_for(partner, events=["lease_request.assigned", "lease.past_due"])
    only_past_due = endpoint_for(partner, events=["lease.past_due"])
    elsewhere = endpoint_for(other_partner)
    assert events_emit([occurrence(partner)]) == 1
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.endpoint == everything
    assert not WebhookDelivery.objects.filter(endpoint__in=[only_past_due, elsewhere]).exists()
    body = json.loads(delivery.event.body)
    assert set(body) == {"id", "type", "createdAt", "data"}
    assert body["id"] == delivery.event_id
    assert body["type"] == "lease_request.assigned"
    assert body["data"] == {"requestId": "lreq_x"}
    assert [j["args"]["delivery_id"] for j in jobs()] == [delivery.pk]


def test_a_project_endpoint_gets_only_that_projects_events(partner):
    from layers_ops.partners.models import Project

    second = Project.objects.create(organization=partner.organization, name="second")
    scoped = endpoint_for(partner, project=partner.project)
    events_emit([occurrence(partner, project=second), occurrence(partner, project=partner.project)])
    (delivery,) = WebhookDelivery.objects.all()
    assert delivery.endpoint == scoped
    assert delivery.event.project == partner.project


def test_an_event_nobody_subscribes_to_writes_nothing(partner):
    endpoint_for(partner, events=["lease.past_due"])
    assert events_emit([occurrence(partner)]) == 0
    assert not WebhookEvent.objects.exists()
    assert jobs() == []


def test_a_rolled_back_change_emits_nothing(partner):
    endpoint_for(partner)
    with pytest.raises(RuntimeError), transaction.atomic():
        events_emit([occurrence(partner)])
        raise RuntimeError("the change failed")
    assert not WebhookEvent.objects.exists()
    assert jobs() == []


def test_deliveries_are_listed_with_filters(partner, other_partner):
    first, second = endpoint_for(partner), endpoint_for(partner)
    endpoint_for(other_partner)
    events_emit([occurrence(partner), occurrence(other_partner)])
    WebhookDelivery.objects.filter(endpoint=first).update(
        status="failed", attempts=3, last_status_code=500
    )
    listed = partner.client.get("/v1/webhook-deliveries").json()
    assert {d["endpointId"] for d in listed["items"]} == {first.pk, second.pk}
    item = next(d for d in listed["items"] if d["endpointId"] == first.pk)
    assert item["deliveryId"].startswith("whd_")
    assert item["eventId"].startswith("evt_")
    assert item["type"] == "lease_request.assigned"
    assert item["status"] == "failed"
    assert item["attempts"] == 3
    assert item["lastStatusCode"] == 500
    assert set(item) == {
        "deliveryId", "endpointId", "eventId", "type", "status", "attempts",
        "lastStatusCode", "lastAttemptAt", "nextAttemptAt", "createdAt",
    }  # fmt: skip
    by_endpoint = partner.client.get("/v1/webhook-deliveries", {"endpointId": second.pk}).json()
    assert [d["endpointId"] for d in by_endpoint["items"]] == [second.pk]
    failed = partner.client.get("/v1/webhook-deliveries", {"status": "failed"}).json()
    assert [d["endpointId"] for d in failed["items"]] == [first.pk]
    assert partner.client.get("/v1/webhook-deliveries", {"status": "x"}).status_code == 422
    for bad in ("", "whe_\u0000", "a" * 65):
        refused = partner.client.get("/v1/webhook-deliveries", {"endpointId": bad})
        assert refused.status_code in (400, 422)  # a NUL is refused before any view
        assert refused.json()["error"]["code"] in ("BAD_REQUEST", "VALIDATION")
    refused = partner.client.get("/v1/webhook-endpoints", {"projectId": "prj x"})
    assert refused.status_code == 422
    assert refused.json()["error"]["details"][0]["field"] == "projectId"


def test_a_replay_sends_the_same_data_as_a_new_event(partner):
    endpoint_for(partner)
    events_emit([occurrence(partner, data={"requestId": "lreq_1", "status": "assigned"})])
    original = WebhookDelivery.objects.get()
    response = partner.client.post(f"/v1/webhook-deliveries/{original.pk}/replay")
    assert response.status_code == 202
    body = response.json()
    assert body["originalDeliveryId"] == original.pk
    assert body["scheduledAt"]
    replay = WebhookDelivery.objects.get(pk=body["replayDeliveryId"])
    assert replay.endpoint_id == original.endpoint_id
    assert replay.replay_of == original
    sent = json.loads(replay.event.body)
    assert sent["id"] != original.event_id
    assert sent["replayOf"] == original.event_id
    assert sent["data"] == {"requestId": "lreq_1", "status": "assigned"}
    assert len(jobs()) == 2


def test_another_organizations_delivery_cannot_be_replayed(partner, other_partner):
    endpoint_for(other_partner)
    events_emit([occurrence(other_partner)])
    delivery = WebhookDelivery.objects.get()
    response = partner.client.post(f"/v1/webhook-deliveries/{delivery.pk}/replay")
    assert response.status_code == 404
    assert WebhookDelivery.objects.count() == 1


def test_a_replay_to_a_paused_endpoint_is_refused(partner):
    endpoint = endpoint_for(partner)
    events_emit([occurrence(partner)])
    delivery = WebhookDelivery.objects.get()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status="paused")
    response = partner.client.post(f"/v1/webhook-deliveries/{delivery.pk}/replay")
    assert response.status_code == 409
    assert WebhookDelivery.objects.count() == 1


def test_a_delivery_whose_job_was_lost_is_queued_again_by_the_sweep(partner):
    from datetime import timedelta

    from django.utils import timezone

    from layers_ops.webhooks.tasks import deliveries_overdue_requeue

    endpoint_for(partner)
    events_emit([occurrence(partner)])
    delivery = WebhookDelivery.objects.get()
    with transaction.atomic():  # the job is lost (say it raised before recording)
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM procrastinate_jobs")
    assert deliveries_overdue_requeue(timestamp=0) == 0  # due just now: not overdue yet
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now() - timedelta(minutes=11)
    )
    assert deliveries_overdue_requeue(timestamp=0) == 1
    assert [job["args"]["delivery_id"] for job in jobs()] == [delivery.pk]
