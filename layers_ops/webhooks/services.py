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
from django.utils import timezone

from layers_ops.api.fields import TIMESTAMP_FORMAT
from layers_ops.jobs.engine import defer
from layers_ops.partners.models import Organization, Project
from layers_ops.staff.once import once_take

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


def event_body(*, event_id: str, type: str, created_at: datetime, data: dict, replay_of=None):
    body = {
        "id": event_id,
        "type": type,
        "createdAt": created_at.astimezone(UTC).strftime(TIMESTAMP_FORMAT),
        "data": data,
    }
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


def events_wanted(*, organization_ids, type: str) -> set[str]:
    """The organizations among ``organization_ids`` with an endpoint that would receive
    ``type``: one query, so a caller builds an event's ``data`` only when someone wants
    it (a renewal batch touches a thousand leases; most partners subscribe to none)."""
    return set(
        WebhookEndpoint.objects.filter(
            organization_id__in=set(organization_ids),
            status__in=[EndpointStatus.ACTIVE, EndpointStatus.AUTO_PAUSED],
            events__contains=[type],
        ).values_list("organization_id", flat=True)
    )


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
            WebhookDelivery(
                endpoint=endpoint,
                event=event,
                created_at=now,
                # An auto-paused endpoint's deliveries wait, pending, until it is resumed.
                next_attempt_at=now if endpoint.status == EndpointStatus.ACTIVE else None,
            )
            for endpoint in subscribed
        ]
    WebhookEvent.objects.bulk_create(events)
    WebhookDelivery.objects.bulk_create(deliveries)
    _deliveries_defer([d for d in deliveries if d.next_attempt_at is not None])
    return len(deliveries)


def _deliveries_defer(deliveries) -> None:
    for delivery in deliveries:
        defer(delivery_send, delivery_id=delivery.pk)


class WebhookError(Exception):
    """A webhook change refused; the message says why."""


class EndpointNotActive(WebhookError):
    pass


class ProjectUnknown(WebhookError):
    pass


def _project_check(*, organization_id: str, project_id: str | None) -> None:
    if (
        project_id
        and not Project.objects.filter(pk=project_id, organization_id=organization_id).exists()
    ):
        raise ProjectUnknown("No project with this id in your organization.")


def endpoint_create(
    *,
    organization: Organization,
    url: str,
    events: list[str],
    description: str = "",
    project_id: str | None = None,
    metadata: dict | None = None,
) -> WebhookEndpoint:
    _project_check(organization_id=organization.pk, project_id=project_id)
    return WebhookEndpoint.objects.create(
        organization=organization,
        project_id=project_id or None,
        url=url,
        events=events,
        description=description,
        metadata=metadata or {},
        secret=secret_new(),
    )


@transaction.atomic
def endpoint_update(*, endpoint: WebhookEndpoint, changes: dict) -> WebhookEndpoint:
    """Changes url, events, description or status. Back to ``active`` (from paused or
    auto-paused) the failure count restarts and every delivery that waited goes out."""
    endpoint = WebhookEndpoint.objects.select_for_update(of=("self",)).get(pk=endpoint.pk)
    resumed = (
        changes.get("status") == EndpointStatus.ACTIVE and endpoint.status != EndpointStatus.ACTIVE
    )
    for field in ("url", "events", "description", "status"):
        if field in changes:
            setattr(endpoint, field, changes[field])
    if resumed:
        endpoint.consecutive_failure_count = 0
    endpoint.save()
    if resumed:
        _waiting_release(endpoint)
    return endpoint


def endpoint_pause(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return endpoint_update(endpoint=endpoint, changes={"status": EndpointStatus.PAUSED})


def endpoint_resume(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    return endpoint_update(endpoint=endpoint, changes={"status": EndpointStatus.ACTIVE})


def _waiting_release(endpoint: WebhookEndpoint) -> None:
    now = timezone.now()
    waiting = list(
        WebhookDelivery.objects.filter(endpoint=endpoint, status=DeliveryStatus.PENDING)
        .select_for_update()
        .order_by("created_at", "pk")
    )
    WebhookDelivery.objects.filter(pk__in=[d.pk for d in waiting]).update(next_attempt_at=now)
    _deliveries_defer(waiting)


@transaction.atomic
def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its deliveries go; a delivery job already queued finds nothing."""
    WebhookEndpoint.objects.select_for_update(of=("self",)).filter(pk=endpoint.pk).delete()


@transaction.atomic
def endpoint_secret_rotate(*, endpoint: WebhookEndpoint, now=None) -> WebhookEndpoint:
    """A new secret signs from now on; the current one keeps signing (a second ``v1=``)
    for ``ROTATION_OVERLAP``, so receivers can switch without missing a delivery."""
    now = now or timezone.now()
    endpoint = WebhookEndpoint.objects.select_for_update(of=("self",)).get(pk=endpoint.pk)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = secret_new()
    endpoint.save()
    return endpoint


def _single_delivery(*, endpoint, type, data, replay_of=None, now=None) -> WebhookDelivery:
    now = now or timezone.now()
    event_id = new_event_id()
    event = WebhookEvent.objects.create(
        id=event_id,
        organization_id=endpoint.organization_id,
        project_id=endpoint.project_id,
        type=type,
        created_at=now,
        replay_of=replay_of.event_id if replay_of else "",
        body=event_body(
            event_id=event_id,
            type=type,
            created_at=now,
            data=data,
            replay_of=replay_of.event_id if replay_of else None,
        ),
    )
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint, event=event, created_at=now, next_attempt_at=now, replay_of=replay_of
    )
    _deliveries_defer([delivery])
    return delivery


@transaction.atomic
def endpoint_ping(*, endpoint: WebhookEndpoint, data: dict) -> WebhookDelivery:
    """Sends ``test.ping`` (``data``: the endpoint as GET shows it) to this endpoint
    only, whatever it subscribes to."""
    endpoint = WebhookEndpoint.objects.select_for_update(of=("self",)).get(pk=endpoint.pk)
    if endpoint.status != EndpointStatus.ACTIVE:
        raise EndpointNotActive(
            f"The endpoint is {endpoint.status}: set its status to active to send to it."
        )
    return _single_delivery(endpoint=endpoint, type=EventType.TEST_PING, data=data)


@transaction.atomic
def delivery_replay(
    *, delivery: WebhookDelivery, actor=None, once: str | None = None
) -> WebhookDelivery:
    """Sends the delivery's event again to its endpoint, as a new event (new ``evt_``
    id, same ``data``, top-level ``replayOf``: the original event's id). ``once``: the
    admin page's one-time token, spent per delivery, so a second submit of the page
    replays nothing (``AlreadyDone``)."""
    ticket = once_take(once, user=actor, part=f"replay:{delivery.pk}")
    endpoint = WebhookEndpoint.objects.select_for_update(of=("self",)).get(pk=delivery.endpoint_id)
    if endpoint.status != EndpointStatus.ACTIVE:
        raise EndpointNotActive(
            f"The endpoint is {endpoint.status}: set its status to active to replay to it."
        )
    original = json.loads(delivery.event.body)
    replay = _single_delivery(
        endpoint=endpoint, type=delivery.event.type, data=original["data"], replay_of=delivery
    )
    ticket.done(f"{delivery.pk} replayed as {replay.pk}")
    return replay
