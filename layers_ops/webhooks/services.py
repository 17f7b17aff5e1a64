"""Every state change of webhooks: events emitted, endpoints managed, replays.

Each function runs in one transaction (or inside the caller's, for ``events_emit``);
delivery jobs are deferred in it, so an event exists exactly when its change does.
Locks: an endpoint row (``select_for_update``) before its deliveries.
"""

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from layers_ops.jobs.engine import defer
from layers_ops.partners.models import Organization, Project

from .models import (
    DeliveryStatus,
    EndpointStatus,
    EventType,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    new_event_id,
)
from .tasks import delivery_send

# During a rotation the old secret keeps signing this long.
ROTATION_OVERLAP = timedelta(hours=24)


def secret_new() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def event_body(*, event_id: str, type: str, created_at: datetime, data: dict, replay_of=None):
    body = {"id": event_id, "type": type, "createdAt": _rfc3339(created_at), "data": data}
    if replay_of:
        body["replayOf"] = replay_of
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Occurrence:
    """One event to emit: what happened, to whom, and its ``data`` (the object the
    matching GET returns, rendered by the app that owns it)."""

    organization_id: str
    type: str
    data: dict
    project_id: str | None = None


def events_emit(occurrences: list[Occurrence], *, now: datetime | None = None) -> int:
    """Writes each occurrence as an event with one delivery per endpoint subscribed to
    it (its organization's, all projects or that project's; active or auto-paused: a
    paused endpoint chose to receive nothing), and defers each delivery's first
    attempt. An occurrence nobody subscribes to writes nothing. Call it inside the
    transaction of the change it reports. Returns the number of deliveries.

    A fixed number of statements whatever the number of occurrences (the renewals emit
    one per lease of a batch), plus one job per delivery."""
    if not occurrences:
        return 0
    now = now or timezone.now()
    organizations = {o.organization_id for o in occurrences}
    endpoints = list(
        WebhookEndpoint.objects.filter(
            organization_id__in=organizations,
            status__in=[EndpointStatus.ACTIVE, EndpointStatus.AUTO_PAUSED],
            events__overlap=sorted({o.type for o in occurrences}),
        ).only("id", "organization_id", "project_id", "events", "status")
    )
    if not endpoints:
        return 0
    events, deliveries = [], []
    for occurrence in occurrences:
        subscribed = [
            endpoint
            for endpoint in endpoints
            if endpoint.organization_id == occurrence.organization_id
            and occurrence.type in endpoint.events
            and endpoint.project_id in (None, occurrence.project_id)
        ]
        if not subscribed:
            continue
        event_id = new_event_id()
        event = WebhookEvent(
            id=event_id,
            organization_id=occurrence.organization_id,
            project_id=occurrence.project_id,
            type=occurrence.type,
            created_at=now,
            body=event_body(
                event_id=event_id, type=occurrence.type, created_at=now, data=occurrence.data
            ),
        )
        events.append(event)
        deliveries += [
            WebhookDelivery(endpoint=endpoint, event=event, created_at=now, next_attempt_at=now)
            for endpoint in subscribed
        ]
    WebhookEvent.objects.bulk_create(events)
    WebhookDelivery.objects.bulk_create(deliveries)
    # An auto-paused endpoint's deliveries wait, pending, until it is resumed.
    active = {e.pk for e in endpoints if e.status == EndpointStatus.ACTIVE}
    _deliveries_defer([d for d in deliveries if d.endpoint_id in active])
    return len(deliveries)


def _deliveries_defer(deliveries) -> None:
    for delivery in deliveries:
        defer(delivery_send, delivery_id=delivery.pk)
