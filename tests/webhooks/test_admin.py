"""Ops reading and working partners' webhooks in the admin."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from layers_ops.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from layers_ops.webhooks.services import Occurrence, events_emit, secret_new
from leasing.roles import FINANCE, OPS
from tests.factories import UserFactory
from tests.jobs.worker import jobs
from tests.once import once_on

pytestmark = pytest.mark.django_db

ENDPOINTS = reverse("admin:webhooks_webhookendpoint_changelist")
DELIVERIES = reverse("admin:webhooks_webhookdelivery_changelist")


def staff(client, group_name):
    user = UserFactory(username=group_name.lower())
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    return user


@pytest.fixture
def delivery(partner):
    endpoint = WebhookEndpoint.objects.create(
        organization=partner.organization,
        url="https://hooks.example.com/layers",
        events=["lease_request.assigned"],
        secret=secret_new(),
    )
    events_emit(
        [
            Occurrence(
                organization_id=partner.organization.pk, type="lease_request.assigned", data={}
            )
        ]
    )
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    WebhookAttempt.objects.create(
        delivery=delivery,
        number=1,
        started_at=delivery.created_at,
        duration_ms=212,
        status_code=503,
        response_excerpt="upstream <b>down</b>",
    )
    return delivery


def test_ops_read_a_delivery_with_its_attempts_and_never_the_secret(client, delivery):
    staff(client, OPS)
    listed = client.get(DELIVERIES)
    assert listed.status_code == 200
    assert delivery.pk in listed.content.decode()
    page = client.get(reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk]))
    text = page.content.decode()
    assert "503" in text and "212" in text
    assert "upstream &lt;b&gt;down&lt;/b&gt;" in text  # the receiver's answer, escaped
    endpoint_page = client.get(
        reverse("admin:webhooks_webhookendpoint_change", args=[delivery.endpoint_id])
    ).content.decode()
    assert delivery.endpoint.secret not in endpoint_page
    assert delivery.endpoint.secret not in client.get(ENDPOINTS).content.decode()


def test_ops_pause_and_resume_an_endpoint(client, delivery):
    staff(client, OPS)
    endpoint = delivery.endpoint
    client.post(ENDPOINTS, {"action": "pause", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.status == "paused"
    before = len(jobs())
    response = client.post(
        ENDPOINTS, {"action": "resume", "_selected_action": [endpoint.pk]}, follow=True
    )
    endpoint.refresh_from_db()
    assert endpoint.status == "active"
    assert "1 endpoint(s) resumed." in response.content.decode()
    assert len(jobs()) == before + 1  # the pending delivery goes out again


def test_a_double_clicked_replay_replays_once(client, delivery):
    staff(client, OPS)
    page = client.get(DELIVERIES)  # the page clicked on: its form carries one token
    form = {"action": "replay", "_selected_action": [delivery.pk], **once_on(page)}
    client.post(DELIVERIES, form)
    again = client.post(DELIVERIES, form, follow=True)
    assert delivery.replays.count() == 1
    assert "Already done" in again.content.decode()
    # A fresh page replays again: a deliberate second replay is not refused.
    fresh = {**form, **once_on(client.get(DELIVERIES))}
    client.post(DELIVERIES, fresh)
    assert delivery.replays.count() == 2


def test_finance_cannot_see_webhooks(client, delivery):
    staff(client, FINANCE)
    assert client.get(DELIVERIES).status_code == 403
    assert client.get(ENDPOINTS).status_code == 403
