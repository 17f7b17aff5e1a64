"""CPU per request of the real POST and of the bare view, in one process, no server.

``python -m tests.bench.cpu``: migrates the benchmark database (``DATABASE_URL``, as the
http section), onboards an internal-tier partner and sends, through Django's test client
(the same middleware, settings and Redis as the http section, no ASGI server), rounds of
``BENCH_CPU_REQUESTS`` (250) POSTs to each target in turn, ``BENCH_CPU_ROUNDS`` (6)
times, each with a fresh Idempotency-Key. Prints the median over rounds of the median
``X-Cpu-Ms`` (CPU of the Django handler, ``tests.bench.middleware``) per target. Without
the server's own cost, which both targets pay alike, this is the part of a request the
product's code decides; the http section measures what a client sees.
"""

import io
import json
import logging
import os
import statistics
import sys
import uuid

from tests.bench.run import Config, ensure_database, server_env


def main() -> int:
    config = Config.from_env()
    ensure_database(config.database_url)
    os.environ.update(server_env(config))  # as the http section's server runs
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    logging.disable(logging.CRITICAL)  # one log line per request, alike for both targets
    call_command("migrate", "--noinput", verbosity=0)
    out = io.StringIO()
    call_command(
        "create_partner",
        *("--name", f"Bench CPU {uuid.uuid4().hex[:8]}", "--wallet-cents", "100000000"),
        *("--scopes", "*", "--tier", "internal"),
        stdout=out,
    )
    partner = json.loads(out.getvalue().strip().splitlines()[-1])
    project_id = partner["projectId"]
    body = json.dumps(
        {
            "projectId": project_id,
            "count": 1,
            "niche": {"vertical": "coffee", "language": "en", "geo": ["US"]},
        }
    )
    targets = {
        "real": f"/v1/projects/{project_id}/leased-accounts/request",
        "baseline": "/bench/baseline",
    }
    client = Client(HTTP_HOST="127.0.0.1")

    def cpu_ms(path: str) -> float:
        response = client.generic(
            "POST",
            path,
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {partner['apiKey']}",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        if response.status_code != 202:
            raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]}")
        return float(response["X-Cpu-Ms"])

    requests = int(os.environ.get("BENCH_CPU_REQUESTS", "250"))
    rounds = int(os.environ.get("BENCH_CPU_ROUNDS", "6"))
    for path in targets.values():  # warm up: imports, caches, the pool
        for _ in range(100):
            cpu_ms(path)
    medians = {name: [] for name in targets}
    for _ in range(rounds):
        for name, path in targets.items():
            medians[name].append(statistics.median(cpu_ms(path) for _ in range(requests)))
    for name, values in medians.items():
        rounds_text = ", ".join(f"{v:.2f}" for v in values)
        print(f"{name:9} {statistics.median(values):.2f} ms CPU per POST (rounds: {rounds_text})")
    ratio = statistics.median(medians["real"]) / statistics.median(medians["baseline"])
    print(f"real/baseline CPU: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
