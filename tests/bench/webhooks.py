"""Webhook delivery: ``python -m tests.bench.run webhooks`` (or
``BENCH_SECTION=webhooks make bench``).

What it does: drops and recreates the PostgreSQL database ``<DATABASE_URL's name>_webhooks``,
migrates it, starts a receiver (a small asyncio HTTP server on 127.0.0.1, in its own
process, answering 200 at once and noting when each request's first line arrived) and one
endpoint pointing at it. Then, with one and with two ``manage.py procrastinate worker
--queues webhooks`` processes (``BENCH_WEBHOOK_CONCURRENCY``, default 6, jobs at once
each; LISTEN/NOTIFY on, as in production):

* throughput: ``BENCH_WEBHOOK_DELIVERIES`` (2,000) events committed in one transaction
  while the workers wait; deliveries per second from that commit to the last arrival;
* latency: ``BENCH_WEBHOOK_LATENCY_EVENTS`` (200) events, one transaction each, at about
  20 a second; the time from each commit to its request reaching the receiver (p50, p99).

Goals: p50 under 1 s, at least 200 deliveries/s with two workers; they print PASS or
MISS and never change the exit status. A run where any event arrives twice, never, or a
delivery is not ``succeeded`` exits non-zero. The receiver, the workers and PostgreSQL
share the machine, so compare numbers from the same machine only.
"""

import asyncio
import json
import os
import secrets
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.bench.renewals import env_number, fresh_database

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/layers_bench"
P50_GOAL_SECONDS = 1.0
RATE_GOAL = 200


# The receiver (its own process) ------------------------------------------------------


def receiver_serve(port: int) -> None:
    """Answers every POST with 200 and remembers ``(event id, arrival)``; ``GET /_stats``
    answers the list as JSON."""
    arrivals: list[tuple[str, float]] = []

    async def handle(reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                arrived = time.time()
                headers = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    key, _, value = header.decode("latin-1").partition(":")
                    headers[key.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0"))
                if length:
                    await reader.readexactly(length)
                if line.startswith(b"GET /_stats"):
                    body = json.dumps(arrivals).encode()
                else:
                    arrivals.append((headers.get("x-layers-event-id", ""), arrived))
                    body = b"ok"
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(body), body)
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def arrivals(port: int) -> dict[str, list[float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=10) as answer:
        seen: dict[str, list[float]] = {}
        for event_id, at in json.loads(answer.read()):
            seen.setdefault(event_id, []).append(at)
        return seen


# Setup -------------------------------------------------------------------------------


def bench_env(database_url: str) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "layers_ops.settings",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "PYTHONUNBUFFERED": "1",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the receiver exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the receiver did not listen within 15 s")


class Workers:
    """``count`` worker processes on the webhooks queue, stopped with SIGTERM."""

    def __init__(self, env, count: int, concurrency: int):
        self.processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "procrastinate",
                    "worker",
                    "--queues",
                    "webhooks",
                    "--concurrency",
                    str(concurrency),
                    "--name",
                    f"bench-{number}",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
            for number in range(count)
        ]

    def wait_ready(self) -> None:
        from django.db import connection

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for process in self.processes:
                if process.poll() is not None:
                    raise SystemExit(f"a worker exited:\n{process.stderr.read()[-2000:]}")
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM procrastinate_workers "
                    "WHERE last_heartbeat > now() - interval '10 seconds'"
                )
                if cursor.fetchone()[0] >= len(self.processes):
                    time.sleep(0.5)  # LISTEN set up after the worker row
                    return
            time.sleep(0.2)
        raise SystemExit("the workers did not start within 30 s")

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


# Measuring ---------------------------------------------------------------------------


def emit(endpoint, count: int) -> tuple[list[str], float]:
    """``count`` events in one transaction; their ids and the time of the commit."""
    from django.db import transaction
    from django.utils import timezone

    from layers_ops.webhooks.models import WebhookEvent
    from layers_ops.webhooks.services import Occurrence, events_emit

    now = timezone.now()
    with transaction.atomic():
        events_emit(
            [
                Occurrence(
                    organization_id=endpoint.organization_id,
                    type="lease_request.assigned",
                    data={"requestId": f"lreq_bench_{n}", "status": "assigned"},
                )
                for n in range(count)
            ],
            now=now,
        )
        ids = list(WebhookEvent.objects.filter(created_at=now).values_list("pk", flat=True))
    return ids, time.time()


def wait_arrived(port: int, ids: list[str], timeout: float) -> dict[str, list[float]]:
    deadline = time.monotonic() + timeout
    wanted = set(ids)
    while True:
        seen = arrivals(port)
        if wanted <= seen.keys() or time.monotonic() > deadline:
            return {event_id: seen.get(event_id, []) for event_id in ids}
        time.sleep(0.2)


def check(seen: dict[str, list[float]], label: str) -> list[str]:
    problems = []
    never = [e for e, times in seen.items() if not times]
    twice = [e for e, times in seen.items() if len(times) > 1]
    if never:
        problems.append(f"{label}: {len(never)} events never arrived")
    if twice:
        problems.append(f"{label}: {len(twice)} events arrived more than once")
    return problems


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_round(env, endpoint, port, *, workers: int, concurrency: int, deliveries: int, paced):
    pool = Workers(env, workers, concurrency)
    try:
        pool.wait_ready()
        ids, committed = emit(endpoint, deliveries)
        seen = wait_arrived(port, ids, timeout=max(60, deliveries / 20))
        problems = check(seen, f"{workers} worker(s), throughput")
        last = max((times[0] for times in seen.values() if times), default=committed)
        rate = deliveries / max(last - committed, 1e-9)

        latencies, paced_ids = [], []
        for _ in range(paced):
            (event_id,), at = emit(endpoint, 1)
            paced_ids.append((event_id, at))
            time.sleep(0.05)
        seen_paced = wait_arrived(port, [e for e, _ in paced_ids], timeout=60)
        problems += check(seen_paced, f"{workers} worker(s), latency")
        latencies = [seen_paced[e][0] - at for e, at in paced_ids if seen_paced[e]]
    finally:
        pool.stop()
    return rate, latencies, problems


def main() -> int:
    deliveries = env_number("BENCH_WEBHOOK_DELIVERIES", 2000)
    paced = env_number("BENCH_WEBHOOK_LATENCY_EVENTS", 200)
    concurrency = env_number("BENCH_WEBHOOK_CONCURRENCY", 6)
    database_url = fresh_database(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL), "webhooks")
    env = bench_env(database_url)
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONUNBUFFERED"})
    print(
        f"\nWebhooks: {deliveries:,} deliveries and {paced} paced events per round, "
        f"{concurrency} jobs at once per worker, in {database_url}",
        flush=True,
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from layers_ops.partners.models import Organization
    from layers_ops.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
    from layers_ops.webhooks.services import secret_new

    port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "tests.bench.webhooks", "receiver", str(port)], cwd=ROOT, env=env
    )
    problems = []
    results = []
    try:
        wait_for_port(port, receiver)
        organization = Organization.objects.create(name="Webhook bench")
        endpoint = WebhookEndpoint.objects.create(
            organization=organization,
            url=f"http://127.0.0.1:{port}/hooks",
            events=["lease_request.assigned"],
            secret=secret_new(),
        )
        for workers in (1, 2):
            rate, latencies, found = run_round(
                env,
                endpoint,
                port,
                workers=workers,
                concurrency=concurrency,
                deliveries=deliveries,
                paced=paced,
            )
            problems += found
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            results.append((workers, rate, p50, p99))
            print(
                f"  {workers} worker(s): {rate:7.1f} deliveries/s   commit -> receiver "
                f"p50 {p50 * 1000:6.1f} ms  p99 {p99 * 1000:6.1f} ms",
                flush=True,
            )
        unfinished = WebhookDelivery.objects.exclude(status=DeliveryStatus.SUCCEEDED).count()
        if unfinished:
            problems.append(f"{unfinished} deliveries are not succeeded")
    finally:
        receiver.terminate()
        receiver.wait()
    two = results[-1]
    print(
        f"  two workers: {two[1]:.1f} deliveries/s (goal >= {RATE_GOAL})  "
        f"{'PASS' if two[1] >= RATE_GOAL else 'MISS'};  "
        f"p50 {two[2] * 1000:.1f} ms (goal < {P50_GOAL_SECONDS * 1000:.0f} ms)  "
        f"{'PASS' if two[2] < P50_GOAL_SECONDS else 'MISS'}"
    )
    if problems:
        print("FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["receiver"]:
        receiver_serve(int(sys.argv[2]))
    else:
        sys.exit(main())
