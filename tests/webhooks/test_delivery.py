"""Deliveries as a partner's receiver sees them: real workers POST to a real HTTP server
on 127.0.0.1, signed, retried on the ladder (the clock moved, never waited), refused for
private addresses, and never sent twice."""

import ipaddress
import itertools
import json
import socket
import ssl
import time
from collections import Counter
from datetime import timedelta
from email.utils import format_datetime

import pytest
import trustme
from django.db import transaction
from django.utils import timezone
from pytest_httpserver import HTTPServer
from werkzeug import Response

from layers_ops.jobs.engine import defer
from layers_ops.webhooks import transport
from layers_ops.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from layers_ops.webhooks.signing import signature_verify
from layers_ops.webhooks.tasks import delivery_send
from tests.jobs.worker import jobs, jobs_run
from tests.webhooks.conftest import (
    deliveries_run,
    emit,
    endpoint_make,
    scheduled_at,
    workers_alongside,
)

pytestmark = pytest.mark.django_db(transaction=True)


def answering(*statuses, headers=None):
    """A handler answering each status in turn (the last one from then on), recording
    every request it got."""
    seen = []

    def handler(request):
        seen.append(request)
        status = statuses[min(len(seen) - 1, len(statuses) - 1)]
        return Response("ok" if status < 300 else "nope", status=status, headers=headers or {})

    handler.seen = seen
    return handler


def statuses_of(delivery_id):
    return list(
        WebhookAttempt.objects.filter(delivery_id=delivery_id)
        .order_by("number")
        .values_list("status_code", flat=True)
    )


def test_each_event_arrives_once_with_a_signature_that_verifies(receiver, private_urls):
    handler = answering(200)
    receiver.expect_request("/hooks", method="POST").respond_with_handler(handler)
    endpoint = endpoint_make(receiver.url_for("/hooks"))
    delivery_ids = emit(endpoint, 3)

    jobs_run(queues=["webhooks"])
    jobs_run(queues=["webhooks"])  # a second run finds nothing left to send

    assert len(handler.seen) == 3
    events = {e.pk: e for e in WebhookEvent.objects.all()}
    for request in handler.seen:
        raw = request.get_data()
        body = json.loads(raw)
        assert request.headers["X-Layers-Event-Id"] == body["id"]
        assert raw == events[body["id"]].body.encode()
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"] == "Layers-Webhooks/1"
        header = request.headers["X-Layers-Signature"]
        assert header.count("v1=") == 1
        assert signature_verify(header=header, body=raw, secret=endpoint.secret)
        assert not signature_verify(header=header, body=raw + b" ", secret=endpoint.secret)
        assert not signature_verify(header=header, body=raw, secret="whsec_other")
    assert Counter(r.headers["X-Layers-Event-Id"] for r in handler.seen) == Counter(list(events))
    for delivery in WebhookDelivery.objects.filter(pk__in=delivery_ids):
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            DeliveryStatus.SUCCEEDED,
            1,
            200,
        )
        assert delivery.next_attempt_at is None
        (attempt,) = delivery.attempt_log.all()
        assert (attempt.number, attempt.status_code, attempt.response_excerpt) == (1, 200, "ok")
    endpoint.refresh_from_db()
    assert endpoint.last_success_at is not None
    assert endpoint.consecutive_failure_count == 0


def test_a_signature_older_than_five_minutes_is_refused():
    from layers_ops.webhooks.signing import signature_header

    now = 1_800_000_000
    header = signature_header(body=b"{}", secrets=["s1"], timestamp=now)
    assert signature_verify(header=header, body=b"{}", secret="s1", now=now + 299)
    assert not signature_verify(header=header, body=b"{}", secret="s1", now=now + 301)
    assert not signature_verify(header=header, body=b"{}", secret="s1", now=now - 301)
    assert not signature_verify(header="v1=abc", body=b"{}", secret="s1", now=now)
    assert not signature_verify(header="garbage", body=b"{}", secret="s1", now=now)


def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
    receiver, private_urls, time_machine
):
    handler = answering(500, 503, 200)
    receiver.expect_request("/hooks").respond_with_handler(handler)
    endpoint = endpoint_make(receiver.url_for("/hooks"))
    (delivery_id,) = emit(endpoint)

    jobs_run(queues=["webhooks"])  # attempt 1 fails, attempt 2 follows at once (0 s), fails
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 2, 503)
    # The third attempt waits the ladder's next step, 30 s, in a job scheduled for then.
    assert delivery.next_attempt_at - delivery.last_attempt_at == pytest.approx(
        timedelta(seconds=30), abs=timedelta(seconds=1)
    )
    assert scheduled_at(delivery_id) == [delivery.next_attempt_at]
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failure_count == 2
    assert endpoint.last_failure_at is not None

    deliveries_run(time_machine)

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SUCCEEDED, 3)
    assert statuses_of(delivery_id) == [500, 503, 200]
    assert len({r.headers["X-Layers-Event-Id"] for r in handler.seen}) == 1  # stable
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failure_count == 0


def test_a_dead_receiver_is_failed_after_the_whole_ladder(receiver, private_urls, time_machine):
    handler = answering(503)
    receiver.expect_request("/hooks").respond_with_handler(handler)
    endpoint = endpoint_make(receiver.url_for("/hooks"))
    (delivery_id,) = emit(endpoint)
    started = timezone.now()

    deliveries_run(time_machine)

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    ladder = [0, 30, 60, 300, 900, 3600, 21600, 86400]
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == len(handler.seen) == len(ladder) + 1
    assert delivery.next_attempt_at is None
    attempts = list(delivery.attempt_log.order_by("number"))
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert gaps == pytest.approx(ladder, abs=2)
    assert delivery.last_attempt_at - started >= timedelta(seconds=sum(ladder))
    assert jobs(status="todo", task_name=delivery_send.name) == []
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.consecutive_failure_count) == ("active", 9)


def test_twenty_failures_in_a_row_auto_pause_the_endpoint_and_its_deliveries_wait(
    receiver, private_urls, time_machine
):
    handler = answering(500)
    receiver.expect_request("/hooks").respond_with_handler(handler)
    endpoint = endpoint_make(receiver.url_for("/hooks"))
    delivery_ids = emit(endpoint, 3)

    deliveries_run(time_machine)

    assert len(handler.seen) == 20
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.AUTO_PAUSED
    assert endpoint.consecutive_failure_count == 20
    waiting = WebhookDelivery.objects.filter(pk__in=delivery_ids)
    assert {(d.status, d.next_attempt_at) for d in waiting} == {("pending", None)}
    assert sum(d.attempts for d in waiting) == 20
    # A new event for the auto-paused endpoint waits too; nothing more is sent.
    emit(endpoint)
    deliveries_run(time_machine)
    assert len(handler.seen) == 20

    # Resumed (as the partner's PATCH does) and re-deferred, they go out.
    handler.seen.clear()
    receiver.clear()
    receiver.expect_request("/hooks").respond_with_handler(ok := answering(200))
    with transaction.atomic():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(status=EndpointStatus.ACTIVE)
        for delivery in WebhookDelivery.objects.filter(endpoint=endpoint, status="pending"):
            defer(delivery_send, delivery_id=delivery.pk)
    jobs_run(queues=["webhooks"])
    assert len(ok.seen) == 4
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"succeeded"}


@pytest.mark.parametrize("retry_after", ["120", "http-date"])
def test_a_429_is_retried_when_retry_after_says(receiver, private_urls, time_machine, retry_after):
    at = timezone.now().replace(microsecond=0) + timedelta(seconds=120)
    value = format_datetime(at, usegmt=True) if retry_after == "http-date" else retry_after
    handler = answering(429, 200, headers={"Retry-After": value})
    receiver.expect_request("/hooks").respond_with_handler(handler)
    endpoint = endpoint_make(receiver.url_for("/hooks"))
    (delivery_id,) = emit(endpoint)

    jobs_run(queues=["webhooks"])

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 429)
    assert delivery.next_attempt_at == pytest.approx(at, abs=timedelta(seconds=2))
    assert scheduled_at(delivery_id) == [delivery.next_attempt_at]
    deliveries_run(time_machine)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert statuses_of(delivery_id) == [429, 200]


def test_a_410_fails_the_delivery_and_pauses_the_endpoint(receiver, private_urls):
    handler = answering(410)
    receiver.expect_request("/hooks").respond_with_handler(handler)
    endpoint = endpoint_make(receiver.url_for("/hooks"))
    first, second = emit(endpoint, 2)

    jobs_run(queues=["webhooks"])

    assert len(handler.seen) == 1
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.PAUSED
    assert WebhookDelivery.objects.get(pk=first).status == DeliveryStatus.FAILED
    assert WebhookAttempt.objects.get(delivery_id=first).error.startswith("410 Gone")
    parked = WebhookDelivery.objects.get(pk=second)
    assert (parked.status, parked.attempts, parked.next_attempt_at) == ("pending", 0, None)
    assert jobs(status="todo", task_name=delivery_send.name) == []


def test_a_400_is_failed_without_a_retry(receiver, private_urls):
    handler = answering(400)
    receiver.expect_request("/hooks").respond_with_handler(handler)
    endpoint = endpoint_make(receiver.url_for("/hooks"))
    (delivery_id,) = emit(endpoint)

    jobs_run(queues=["webhooks"])

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, 400)
    assert WebhookAttempt.objects.get(delivery_id=delivery_id).response_excerpt == "nope"
    assert len(handler.seen) == 1
    assert jobs(status="todo", task_name=delivery_send.name) == []
    endpoint.refresh_from_db()
    assert (endpoint.status, endpoint.consecutive_failure_count) == ("active", 1)


def test_a_redirect_is_not_followed(receiver, private_urls):
    elsewhere = answering(200)
    receiver.expect_request("/hooks").respond_with_response(
        Response("", status=302, headers={"Location": receiver.url_for("/elsewhere")})
    )
    receiver.expect_request("/elsewhere").respond_with_handler(elsewhere)
    endpoint = endpoint_make(receiver.url_for("/hooks"))
    (delivery_id,) = emit(endpoint)

    jobs_run(queues=["webhooks"])

    assert elsewhere.seen == []
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.last_status_code) == ("failed", 302)
    error = WebhookAttempt.objects.get(delivery_id=delivery_id).error
    assert error == f"redirect to {receiver.url_for('/elsewhere')} not followed"


def test_a_receiver_slower_than_the_timeout_is_retried(receiver, private_urls):
    private_urls.WEBHOOK_TIMEOUT_SECONDS = 0.5
    private_urls.WEBHOOK_RETRY_SCHEDULE = [60]

    def slow(request):
        time.sleep(1.5)
        return Response("late", status=200)

    def dripping(request):  # headers at once, then a byte every 0.2 s, past the deadline
        def body():
            for _ in range(10):
                time.sleep(0.2)
                yield b"x"

        return Response(body(), status=200, direct_passthrough=True)

    receiver.expect_request("/slow").respond_with_handler(slow)
    receiver.expect_request("/drip").respond_with_handler(dripping)
    slow_endpoint = endpoint_make(receiver.url_for("/slow"))
    drip_endpoint = endpoint_make(receiver.url_for("/drip"))
    (slow_id,) = emit(slow_endpoint)
    (drip_id,) = emit(drip_endpoint)

    jobs_run(queues=["webhooks"])

    for delivery_id in (slow_id, drip_id):
        delivery = WebhookDelivery.objects.get(pk=delivery_id)
        assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
            "pending",
            1,
            None,
        )
        assert delivery.next_attempt_at is not None  # retried on the ladder
        attempt = WebhookAttempt.objects.get(delivery_id=delivery_id)
        assert attempt.error.startswith("timed out")
        assert attempt.status_code is None
        assert attempt.duration_ms < 1400  # cut at the deadline, not when the receiver ended


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://127.0.0.1/hooks", "127.0.0.1, a loopback address"),
        ("https://10.20.30.40/hooks", "10.20.30.40, a private address"),
        ("https://169.254.169.254/latest/meta-data", "a cloud metadata address"),
        ("https://100.64.1.2/hooks", "a carrier-grade NAT address"),
        ("https://[::1]/hooks", "::1, a loopback address"),
        ("https://[::ffff:127.0.0.1]/hooks", "it embeds 127.0.0.1, a loopback address"),
        ("https://[fd00:ec2::254]/", "a cloud metadata address"),
        ("https://0.0.0.0/hooks", "an unspecified address"),
        ("https://localhost:{port}/hooks", "localhost resolves to"),
        ("http://93.184.216.34/hooks", "only https URLs receive webhooks, not http://"),
        ("http://localhost:{port}/hooks", "only https URLs receive webhooks, not http://"),
    ],
)
def test_private_addresses_and_plain_http_are_refused_without_a_retry(receiver, url, reason):
    handler = answering(200)
    receiver.expect_request("/hooks").respond_with_handler(handler)
    endpoint = endpoint_make(url.format(port=receiver.port))
    (delivery_id,) = emit(endpoint)

    jobs_run(queues=["webhooks"])

    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", 1, None)
    error = WebhookAttempt.objects.get(delivery_id=delivery_id).error
    assert error.startswith("refused: ")
    assert reason in error
    assert handler.seen == []
    assert jobs(status="todo", task_name=delivery_send.name) == []
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failure_count == 1


def test_two_workers_side_by_side_send_each_event_exactly_once(receiver, private_urls):
    handler = answering(200)
    receiver.expect_request("/hooks").respond_with_handler(handler)
    endpoint = endpoint_make(receiver.url_for("/hooks"))
    delivery_ids = emit(endpoint, 40)
    with transaction.atomic():  # a second job for every delivery, as a resume could add
        for delivery_id in delivery_ids:
            defer(delivery_send, delivery_id=delivery_id)

    workers_alongside(2, concurrency=4)

    sent = Counter(r.headers["X-Layers-Event-Id"] for r in handler.seen)
    assert len(sent) == 40
    assert set(sent.values()) == {1}
    assert set(WebhookDelivery.objects.values_list("status", "attempts")) == {("succeeded", 1)}
    assert WebhookAttempt.objects.count() == 40
    assert len(jobs(status="succeeded", task_name=delivery_send.name)) == 80


def test_during_a_rotation_both_secrets_sign_until_the_old_one_expires(
    receiver, private_urls, time_machine
):
    handler = answering(200)
    receiver.expect_request("/hooks").respond_with_handler(handler)
    endpoint = endpoint_make(
        receiver.url_for("/hooks"),
        secret="whsec_new",
        previous_secret="whsec_old",
        previous_secret_expires_at=timezone.now() + timedelta(hours=24),
    )
    emit(endpoint)
    jobs_run(queues=["webhooks"])

    (during,) = handler.seen
    header = during.headers["X-Layers-Signature"]
    assert header.count("v1=") == 2
    for secret in ("whsec_new", "whsec_old"):
        assert signature_verify(header=header, body=during.get_data(), secret=secret)

    time_machine.move_to(timezone.now() + timedelta(hours=24, seconds=1))
    emit(endpoint)
    jobs_run(queues=["webhooks"])

    _, after = handler.seen
    header = after.headers["X-Layers-Signature"]
    assert header.count("v1=") == 1
    assert signature_verify(header=header, body=after.get_data(), secret="whsec_new")
    assert not signature_verify(header=header, body=after.get_data(), secret="whsec_old")


@pytest.fixture
def fake_dns(monkeypatch):
    """Answers for ``*.example.test`` names as told; every other name as the system does.
    Records each lookup."""
    answers, lookups = {}, []
    system = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            lookups.append(host)
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers[host]
            ]
        return system(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers, lookups


def test_https_goes_to_the_address_resolved_once_with_the_host_name_on_tls(
    private_urls, fake_dns, monkeypatch
):
    answers, lookups = fake_dns
    private_urls.WEBHOOK_RETRY_SCHEDULE = [60]
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("hooks.example.test").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)
    monkeypatch.setattr(transport, "_ssl_context", lambda: client_context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=server_context, threaded=True)
    server.start()
    try:
        handler = answering(200)
        server.expect_request("/hooks").respond_with_handler(handler)
        answers["hooks.example.test"] = ["127.0.0.1"]
        answers["other.example.test"] = ["127.0.0.1"]  # same server, a name its cert lacks
        good = endpoint_make(f"https://hooks.example.test:{server.port}/hooks")
        wrong = endpoint_make(f"https://other.example.test:{server.port}/hooks")
        (good_id,) = emit(good)
        (wrong_id,) = emit(wrong)

        jobs_run(queues=["webhooks"])
    finally:
        server.stop()

    assert WebhookDelivery.objects.get(pk=good_id).status == DeliveryStatus.SUCCEEDED
    (request,) = handler.seen
    assert request.headers["Host"] == f"hooks.example.test:{server.port}"
    assert lookups == ["hooks.example.test", "other.example.test"]  # one lookup an attempt
    wrong_delivery = WebhookDelivery.objects.get(pk=wrong_id)
    assert (wrong_delivery.status, wrong_delivery.last_status_code) == ("pending", None)
    error = WebhookAttempt.objects.get(delivery_id=wrong_id).error
    assert error.startswith("TLS certificate refused")
    assert "other.example.test" in error


def test_one_private_address_among_public_ones_refuses_the_host(fake_dns):
    answers, _ = fake_dns
    answers["mixed.example.test"] = ["93.184.216.34", "10.0.0.7"]
    endpoint = endpoint_make("https://mixed.example.test/hooks")
    (delivery_id,) = emit(endpoint)

    jobs_run(queues=["webhooks"])

    assert WebhookDelivery.objects.get(pk=delivery_id).status == DeliveryStatus.FAILED
    error = WebhookAttempt.objects.get(delivery_id=delivery_id).error
    assert error == "refused: mixed.example.test resolves to 10.0.0.7, a private address"


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
        ("::ffff:8.8.8.8", None),
        ("192.168.1.1", "a private address"),
        ("172.16.0.1", "a private address"),
        ("fc00::1", "a private address"),
        ("fe80::1", "a link-local address"),
        ("169.254.1.1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("::", "an unspecified address"),
        ("64:ff9b::a00:1", "it embeds 10.0.0.1, a private address"),
        ("2002:7f00:1::", "it embeds 127.0.0.1, a loopback address"),
        ("::ffff:169.254.169.254", "it embeds 169.254.169.254, a cloud metadata address"),
        ("100.127.255.254", "a carrier-grade NAT address (100.64.0.0/10)"),
    ],
)
def test_which_addresses_a_delivery_may_reach(address, refused):
    assert transport.address_refusal(ipaddress.ip_address(address)) == refused


def test_a_worker_waits_on_as_many_receivers_at_once_as_its_concurrency(receiver, private_urls):
    """Ten deliveries each held by the receiver until all ten have arrived: a worker
    running ten jobs at once needs ten threads, more than asyncio's default pool here."""
    import threading

    from layers_ops.jobs.engine import DEFAULT_THREADS

    together = 10
    assert together > DEFAULT_THREADS or DEFAULT_THREADS >= 32
    barrier = threading.Barrier(together, timeout=10)

    def all_at_once(request):
        barrier.wait()  # raises BrokenBarrierError (a 500) if fewer are in flight
        return Response("ok", status=200)

    receiver.expect_request("/hook").respond_with_handler(all_at_once)
    endpoint = endpoint_make(receiver.url_for("/hook"))
    deliveries = emit(endpoint, together)
    jobs_run(queues=["webhooks"], concurrency=together)
    statuses = Counter(
        WebhookDelivery.objects.filter(pk__in=deliveries).values_list("status", flat=True)
    )
    assert statuses == {DeliveryStatus.SUCCEEDED: together}
