"""What the operations endpoints cost: ``/healthz``, ``/readyz`` and a ``/metrics`` scrape.

Run alone with ``python -m tests.bench.probes`` (or ``python -m tests.bench.run probes``).
It migrates ``BENCH_PROBES_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/layers_bench_probes``, created if missing), empties
it and queues ``BENCH_PROBES_REQUESTS`` (300) open requests over 30 verticals against 20
pools of 50 ready accounts. In process, through Django's test client (the whole
middleware stack, no network), it times ``BENCH_PROBES_CALLS`` (200) calls of each
endpoint, interleaved, and prints the median and 95th percentile wall and CPU time per
call and the SQL statements each runs.

Goals: ``/healthz`` under 2 ms and no query; ``/readyz`` under 5 ms and one query (Redis
PING included when ``REDIS_URL`` is set); a scrape well under a second.
"""

import logging
import os
import statistics
import sys
import time

from tests.bench.finance import inprocess_setup

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/layers_bench_probes"
GOALS_MS = {"/healthz": 2.0, "/readyz": 5.0, "/metrics": 250.0}
TOKEN = "bench-" + "m" * 40


def _seed(requests: int) -> None:
    from leasing.models import SocialAccount
    from tests.conftest import make_partner
    from tests.factories import LeaseRequestFactory, PoolFactory

    partner = make_partner()
    pools = [PoolFactory(tags=[f"vertical-{n % 30}"]) for n in range(20)]
    SocialAccount.objects.bulk_create(
        SocialAccount(pool=pool, handle=f"bench_{pool.pk}_{n}", follower_geos=["US"], state="ready")
        for pool in pools
        for n in range(50)
    )
    for n in range(requests):
        LeaseRequestFactory(project=partner.project, vertical=f"vertical-{n % 30}")


def main() -> int:
    inprocess_setup(os.environ.get("BENCH_PROBES_DATABASE_URL", DEFAULT_URL))
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.METRICS_TOKEN = TOKEN
    # 600 request lines on the terminal would drown the table; the http section's server
    # writes them, so their cost is measured there.
    logging.getLogger("layers_ops.request").setLevel(logging.WARNING)
    _seed(int(os.environ.get("BENCH_PROBES_REQUESTS", "300")))
    calls = int(os.environ.get("BENCH_PROBES_CALLS", "200"))
    client = Client(HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    paths = list(GOALS_MS)
    for path in paths:  # warm-up: the migrations on disk are read once per process
        assert client.get(path).status_code == 200, path
    wall = {path: [] for path in paths}
    cpu = {path: [] for path in paths}
    for _ in range(calls):
        for path in paths:
            started, started_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            wall[path].append((time.perf_counter() - started) * 1000)
            cpu[path].append((time.process_time() - started_cpu) * 1000)
            if response.status_code != 200:
                print(f"FAILED: {path} answered {response.status_code}", file=sys.stderr)
                return 1
    print(f"{calls} calls each, in process; Redis {'on' if settings.REDIS_URL else 'off'}")
    print(f"{'path':<10} {'wall p50':>9} {'wall p95':>9} {'cpu p50':>8} {'queries':>8}  goal")
    for path in paths:
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        p50 = statistics.median(wall[path])
        p95 = statistics.quantiles(wall[path], n=20)[-1]
        verdict = "PASS" if p50 <= GOALS_MS[path] else "MISS"
        print(
            f"{path:<10} {p50:>7.2f}ms {p95:>7.2f}ms {statistics.median(cpu[path]):>6.2f}ms "
            f"{len(queries):>8}  {verdict} (p50 <= {GOALS_MS[path]:g} ms)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
