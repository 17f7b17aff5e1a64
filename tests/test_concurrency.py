"""Real threads against PostgreSQL: the database, not luck, keeps these rules."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from layers_ops.api.models import IdempotencyKey
from leasing.models import LeaseRequest
from tests.conftest import lease_body, make_partner, request_url

pytestmark = pytest.mark.django_db(transaction=True)


def fire(n, send):
    """Run ``send(i)`` on n threads released together; each closes its own connection."""
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait(timeout=30)
            return send(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(worker, range(n)))


def poster(partner, body_for, key_for=lambda i: None):
    def send(i):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {partner.token}"}
        key = key_for(i)
        if key:
            headers["HTTP_IDEMPOTENCY_KEY"] = key
        response = Client().post(
            request_url(partner.project.pk), body_for(i), content_type="application/json", **headers
        )
        return response.status_code, response.json(), response.headers.get("Idempotent-Replayed")

    return send


def test_32_parallel_posts_with_one_key_make_exactly_one_request():
    partner = make_partner()
    key = str(uuid.uuid4())

    results = fire(32, poster(partner, lambda i: lease_body(partner.project.pk), lambda i: key))

    assert {status for status, _, _ in results} == {202}
    assert len({body["requestId"] for _, body, _ in results}) == 1
    assert sum(1 for *_, replayed in results if replayed == "true") == 31
    assert LeaseRequest.objects.count() == 1


def test_parallel_posts_with_one_key_and_different_bodies_make_one_request():
    partner = make_partner()
    key = str(uuid.uuid4())

    results = fire(
        16,
        poster(partner, lambda i: lease_body(partner.project.pk, count=1 + i % 2), lambda i: key),
    )

    statuses = sorted(status for status, _, _ in results)
    assert set(statuses) <= {202, 409} and 202 in statuses and 409 in statuses
    assert LeaseRequest.objects.count() == 1


def test_parallel_posts_with_one_partner_request_id_queue_it_once():
    partner = make_partner()

    results = fire(
        16,
        poster(
            partner,
            lambda i: lease_body(partner.project.pk, requestId="same-id"),
            lambda i: str(uuid.uuid4()),
        ),
    )

    statuses = sorted(status for status, _, _ in results)
    assert statuses == [202] + [409] * 15
    assert LeaseRequest.objects.filter(public_id="same-id").count() == 1


@pytest.mark.parametrize("store", ["database", pytest.param("redis", marks=pytest.mark.redis)])
def test_write_budget_holds_across_threads(store, settings):
    if store == "database":
        settings.REDIS_URL = ""
    partner = make_partner(tier="standard")  # 60 writes a minute

    results = fire(40, poster(partner, lambda i: lease_body(partner.project.pk)))
    results += fire(40, poster(partner, lambda i: lease_body(partner.project.pk)))

    statuses = [status for status, _, _ in results]
    assert statuses.count(202) == 60
    assert statuses.count(429) == 20
    assert LeaseRequest.objects.count() == 60


def test_parallel_retries_with_one_key_and_a_partner_id_all_get_the_replay():
    partner = make_partner()
    key = str(uuid.uuid4())
    body = lease_body(partner.project.pk, requestId="retried-1")

    results = fire(16, poster(partner, lambda i: body, lambda i: key))

    assert {status for status, _, _ in results} == {202}
    assert {b["requestId"] for _, b, _ in results} == {"retried-1"}
    assert LeaseRequest.objects.count() == 1


@pytest.mark.parametrize("attempt", range(5))
def test_parallel_posts_with_an_expired_key_make_exactly_one_new_request(attempt):
    partner = make_partner()
    key = str(uuid.uuid4())
    body = lease_body(partner.project.pk)
    first = poster(partner, lambda i: body, lambda i: key)(0)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))

    results = fire(8, poster(partner, lambda i: body, lambda i: key))

    assert {status for status, _, _ in results} == {202}
    request_ids = {b["requestId"] for _, b, _ in results}
    assert len(request_ids) == 1 and request_ids != {first[1]["requestId"]}
    assert sum(1 for *_, replayed in results if replayed == "true") == 7
    assert LeaseRequest.objects.count() == 2
    assert IdempotencyKey.objects.count() == 1
