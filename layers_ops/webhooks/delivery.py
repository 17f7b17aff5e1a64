"""One attempt at one delivery: the body of the ``delivery_send`` job.

``delivery_attempt`` runs in three steps, so no database lock is held while the network
is waited on:

1. Claim, in a short transaction with the delivery locked: nothing to do unless it is
   pending and due; if its endpoint is paused or auto-paused it is parked (pending,
   ``next_attempt_at`` cleared) for the resume to send. Otherwise ``attempts`` goes up
   by one and ``next_attempt_at`` is cleared: attempt N is now this worker's, and any
   other job for the delivery (two workers, a duplicate defer) finds it in flight and
   does nothing. A claim whose worker died is taken over after ``CLAIM_LEASE`` (the
   lost attempt is written down with no answer).
2. The POST (``transport.post``), outside any transaction, signed at send time.
3. Record, in a second transaction locking the endpoint then the delivery (the order
   every webhook service locks in): the ``WebhookAttempt`` row, then the outcome —
   2xx succeeded; 5xx, 429, time-outs and connection errors retried at the next step of
   ``WEBHOOK_RETRY_SCHEDULE`` (a 429's ``Retry-After`` honoured, up to 24 h) by a job
   deferred in that same transaction, failed once the schedule has run out; 410 failed
   and the endpoint paused; any other answer (other 4xx, a redirect) and a refused
   address failed at once. Every failure counts on the endpoint; at
   ``WEBHOOK_AUTO_PAUSE_FAILURES`` in a row it is auto-paused, and its pending
   deliveries wait.

The contract for whoever (re)sends a pending delivery (resume, replay): set
``next_attempt_at`` to when it should go (or leave it cleared for "now") and defer
``delivery_send`` in the same transaction.
"""

import email.utils
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from layers_ops.jobs.engine import defer

from . import transport
from .models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from .signing import signature_header

logger = logging.getLogger(__name__)

USER_AGENT = "Layers-Webhooks/1"
RETRY_AFTER_MAX = timedelta(hours=24)
# A job may start this much before its delivery's next_attempt_at (clocks of the worker
# and the database differ a little); earlier than that it is a duplicate and does nothing.
EARLY_SLACK = timedelta(seconds=5)


def claim_lease() -> timedelta:
    """How long a claimed attempt belongs to its worker: past the POST's deadline and a
    margin, a claim with no recorded outcome is one whose worker died."""
    return timedelta(seconds=float(settings.WEBHOOK_TIMEOUT_SECONDS) + 60)


@dataclass(frozen=True)
class Claim:
    delivery_id: str
    endpoint_id: str
    event_id: str
    number: int
    url: str
    body: bytes
    secrets: list[str]


def delivery_attempt(*, delivery_id: str) -> None:
    """Makes the next attempt at ``delivery_id`` if it is due (see the module docstring).
    Safe to run any number of times, from any number of workers."""
    claim = _claim(delivery_id)
    if claim is None:
        return
    started_at = timezone.now()
    timestamp = int(time.time())
    body_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Layers-Event-Id": claim.event_id,
        "X-Layers-Delivery-Id": claim.delivery_id,
        "X-Layers-Signature": signature_header(
            body=claim.body, secrets=claim.secrets, timestamp=timestamp
        ),
    }
    answer = transport.post(url=claim.url, body=claim.body, headers=body_headers)
    _record(claim, answer, started_at=started_at)


def live_secrets(endpoint: WebhookEndpoint, *, now: datetime) -> list[str]:
    """The secrets that sign now: the current one, and the previous one until it expires."""
    secrets = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires is not None and expires > now:
        secrets.append(endpoint.previous_secret)
    return secrets


def _claim(delivery_id: str) -> Claim | None:
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return None
        endpoint = delivery.endpoint
        if endpoint.status != EndpointStatus.ACTIVE:
            if delivery.next_attempt_at is not None:
                delivery.next_attempt_at = None  # parked until the endpoint is resumed
                delivery.save(update_fields=["next_attempt_at"])
            return None
        if delivery.next_attempt_at is not None:
            if delivery.next_attempt_at > now + EARLY_SLACK:
                return None  # a duplicate job: the one for that time is queued
        elif delivery.attempts and not _recorded(delivery, delivery.attempts):
            if delivery.last_attempt_at > now - claim_lease():
                return None  # in flight in another worker
            WebhookAttempt.objects.create(
                delivery=delivery,
                number=delivery.attempts,
                started_at=delivery.last_attempt_at,
                duration_ms=0,
                error="no outcome recorded: the worker stopped during the attempt",
            )
        if delivery.attempts > len(settings.WEBHOOK_RETRY_SCHEDULE):
            delivery.status = DeliveryStatus.FAILED
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "next_attempt_at"])
            return None
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.next_attempt_at = None
        delivery.save(update_fields=["attempts", "last_attempt_at", "next_attempt_at"])
        return Claim(
            delivery_id=delivery.pk,
            endpoint_id=endpoint.pk,
            event_id=delivery.event_id,
            number=delivery.attempts,
            url=endpoint.url,
            body=delivery.event.body.encode(),
            secrets=live_secrets(endpoint, now=now),
        )


def _recorded(delivery: WebhookDelivery, number: int) -> bool:
    return WebhookAttempt.objects.filter(delivery=delivery, number=number).exists()


def _retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header (seconds or an HTTP date) as a delay, at most 24 h."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            at = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        delay = max(at - now, timedelta(0))
    return min(delay, RETRY_AFTER_MAX)


def _verdict(answer: transport.Answer) -> tuple[str, str]:
    """(``succeeded`` | ``retry`` | ``failed`` | ``gone``, the attempt's error text)."""
    code = answer.status_code
    if answer.refused:
        return "failed", answer.error
    if code is None:
        return "retry", answer.error
    if 200 <= code < 300:
        return "succeeded", ""
    if code == 429 or code >= 500:
        return "retry", ""
    if code == 410:
        return "gone", "410 Gone: the endpoint is paused"
    if 300 <= code < 400:
        where = f" to {answer.location}" if answer.location else ""
        return "failed", f"redirect{where} not followed"[: transport.ERROR_MAX]
    return "failed", ""


# A busy endpoint's last_success_at is written at most once a second (a success then
# only locks the endpoint row when it changes something), so its deliveries do not queue
# on that one row.
SUCCESS_NOTE_EVERY = timedelta(seconds=1)


def _success_note(endpoint_id: str, *, now: datetime) -> None:
    """Resets the endpoint's failure count and notes the success; first in the
    transaction, so the endpoint row is locked before the delivery's, as everywhere."""
    WebhookEndpoint.objects.filter(pk=endpoint_id).filter(
        Q(consecutive_failure_count__gt=0)
        | Q(last_success_at__isnull=True)
        | Q(last_success_at__lt=now - SUCCESS_NOTE_EVERY)
    ).update(last_success_at=now, consecutive_failure_count=0)


def _success_record(claim: Claim, answer: transport.Answer, *, started_at, now) -> None:
    """The common case in four statements (the endpoint noted, the delivery marked
    succeeded only if this attempt still holds it, the attempt written, COMMIT) instead
    of reading both rows first: 11 round trips a delivery became 9, engine included, and
    one worker's deliveries/s went from 106 to 125 (median of 3, ``tests.bench.run
    webhooks`` at ``--concurrency 16``)."""
    _success_note(claim.endpoint_id, now=now)
    held = WebhookDelivery.objects.filter(
        pk=claim.delivery_id, status=DeliveryStatus.PENDING, attempts=claim.number
    ).update(
        status=DeliveryStatus.SUCCEEDED, last_status_code=answer.status_code, next_attempt_at=None
    )
    if not held:  # taken over, or its endpoint (and so it) deleted meanwhile
        logger.warning("delivery %s: attempt %s was taken over", claim.delivery_id, claim.number)
        return
    WebhookAttempt.objects.create(
        delivery_id=claim.delivery_id,
        number=claim.number,
        started_at=started_at,
        duration_ms=answer.duration_ms,
        status_code=answer.status_code,
        error="",
        response_excerpt=answer.excerpt,
    )


def _record(claim: Claim, answer: transport.Answer, *, started_at: datetime) -> None:
    now = timezone.now()
    verdict, error = _verdict(answer)
    with transaction.atomic():
        if verdict == "succeeded":
            _success_record(claim, answer, started_at=started_at, now=now)
            return
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=claim.endpoint_id).first()
        delivery = (
            WebhookDelivery.objects.select_for_update(of=("self",))
            .filter(pk=claim.delivery_id)
            .first()
        )
        if endpoint is None or delivery is None:
            return  # the endpoint was deleted, its deliveries with it
        if delivery.status != DeliveryStatus.PENDING or delivery.attempts != claim.number:
            logger.warning("delivery %s: attempt %s was taken over", delivery.pk, claim.number)
            return
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=claim.number,
            started_at=started_at,
            duration_ms=answer.duration_ms,
            status_code=answer.status_code,
            error=error,
            response_excerpt=answer.excerpt,
        )
        delivery.last_status_code = answer.status_code
        delivery.next_attempt_at = None
        fields = ["last_status_code", "next_attempt_at", "status"]

        endpoint.consecutive_failure_count += 1
        endpoint.last_failure_at = now
        endpoint_fields = ["consecutive_failure_count", "last_failure_at"]
        if verdict == "gone" and endpoint.status != EndpointStatus.PAUSED:
            endpoint.status = EndpointStatus.PAUSED
            endpoint_fields += ["status", "updated_at"]
        elif (
            endpoint.status == EndpointStatus.ACTIVE
            and endpoint.consecutive_failure_count >= settings.WEBHOOK_AUTO_PAUSE_FAILURES
        ):
            endpoint.status = EndpointStatus.AUTO_PAUSED
            endpoint_fields += ["status", "updated_at"]
        endpoint.save(update_fields=endpoint_fields)
        if endpoint.status != EndpointStatus.ACTIVE:
            # Paused now: every pending delivery waits, cleared, for the resume.
            WebhookDelivery.objects.filter(
                endpoint=endpoint, status=DeliveryStatus.PENDING, next_attempt_at__isnull=False
            ).update(next_attempt_at=None)

        schedule = settings.WEBHOOK_RETRY_SCHEDULE
        if verdict != "retry" or claim.number > len(schedule):
            delivery.status = DeliveryStatus.FAILED
        elif endpoint.status == EndpointStatus.ACTIVE:
            delay = timedelta(seconds=schedule[claim.number - 1])
            if answer.status_code == 429:
                delay = max(delay, _retry_after(answer.retry_after, now=now) or delay)
            delivery.next_attempt_at = now + delay
            _send_defer(delivery_id=delivery.pk, at=delivery.next_attempt_at)
        # else: the endpoint is paused now; the delivery waits, pending, for the resume.
        delivery.save(update_fields=fields)


def _send_defer(*, delivery_id: str, at: datetime) -> None:
    from .tasks import delivery_send

    defer(delivery_send, schedule_at=at, delivery_id=delivery_id)
