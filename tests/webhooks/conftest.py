"""A real HTTP receiver on 127.0.0.1 and the helpers that run deliveries through real
workers, moving the clock (time-machine) instead of waiting out the retry ladder."""

import threading
from datetime import datetime

import pytest
from django.db import connection, transaction
from django.utils import timezone
from procrastinate.contrib.django import app
from pytest_httpserver import HTTPServer

from layers_ops.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
)
from layers_ops.webhooks.services import Occurrence, events_emit, secret_new
from tests.factories import OrganizationFactory
from tests.jobs.worker import jobs_run

EVENT = "lease_request.assigned"


@pytest.fixture
def receiver():
    """A threaded HTTP server on 127.0.0.1 (slow handlers do not hold up the others)."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def private_urls(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    return settings


def endpoint_make(url: str, **fields) -> WebhookEndpoint:
    fields.setdefault("organization", OrganizationFactory())
    fields.setdefault("events", [EVENT])
    fields.setdefault("secret", secret_new())
    return WebhookEndpoint.objects.create(url=url, **fields)


def emit(endpoint: WebhookEndpoint, count: int = 1, *, type: str = EVENT) -> list[str]:
    """Emits ``count`` events for the endpoint's organization in one committed
    transaction; returns their deliveries' ids, oldest first."""
    with transaction.atomic():
        events_emit(
            [
                Occurrence(organization_id=endpoint.organization_id, type=type, data={"n": n})
                for n in range(count)
            ]
        )
    return list(
        WebhookDelivery.objects.filter(endpoint=endpoint)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def jobs_due_by(moment: datetime) -> None:
    """Makes the webhook jobs scheduled up to ``moment`` (Python's clock, as moved by
    time-machine) due for the worker, which compares with the database's clock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE procrastinate_jobs SET scheduled_at = now() "
            "WHERE status = 'todo' AND scheduled_at <= %s",
            [moment],
        )


def scheduled_at(delivery_id: str) -> list[datetime]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT scheduled_at FROM procrastinate_jobs WHERE status = 'todo' "
            "AND args->>'delivery_id' = %s ORDER BY id",
            [delivery_id],
        )
        return [row[0] for row in cursor.fetchall()]


def deliveries_run(time_machine=None, *, rounds: int = 50) -> None:
    """Runs webhook jobs until no delivery of an active endpoint waits for a next
    attempt: each round moves the clock to the earliest ``next_attempt_at`` and runs
    what is due then."""
    jobs_run(queues=["webhooks"])
    for _ in range(rounds):
        waiting = (
            WebhookDelivery.objects.filter(
                status=DeliveryStatus.PENDING,
                next_attempt_at__isnull=False,
                endpoint__status=EndpointStatus.ACTIVE,
            )
            .order_by("next_attempt_at")
            .values_list("next_attempt_at", flat=True)
            .first()
        )
        if waiting is None:
            return
        if time_machine is not None and waiting > timezone.now():
            time_machine.move_to(waiting)
        jobs_due_by(timezone.now())
        jobs_run(queues=["webhooks"])
    raise AssertionError(f"deliveries still waiting after {rounds} rounds")


def workers_alongside(count: int, *, concurrency: int) -> None:
    """``count`` real workers at once, each in its own thread with its own connection
    pool (one app per worker, sharing the tasks), until nothing is due."""

    def work(number: int) -> None:
        connector = app.connector.get_worker_connector()
        worker_app = app.with_connector(connector)
        worker_app.run_worker(
            queues=["webhooks"],
            wait=False,
            concurrency=concurrency,
            name=f"test-worker-{number}",
            listen_notify=False,
            install_signal_handlers=False,
        )

    threads = [threading.Thread(target=work, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
