"""``GET /v1/wallet`` for a partner with thousands of leases, against ``GET /v1/whoami``.

Run alone with ``python -m tests.bench.wallet`` (or ``python -m tests.bench.run wallet``).
It migrates ``BENCH_WALLET_DATABASE_URL`` (default
``postgres://postgres@127.0.0.1:5432/layers_bench_wallet``, created if missing), empties
it, and gives one partner ``BENCH_WALLET_LEASES`` (5,000) running leases assigned at
spread-out moments over the last month, and a balance that covers 23 months of them, so
the runway walks almost as far as it ever does; then ANALYZE, as autovacuum would. In
process, through Django's test client, it times ``BENCH_WALLET_REQUESTS`` (40) calls of
each endpoint, interleaved, and prints the median CPU and wall time per call (the wall
time includes the database's share), the ratios and the SQL statements of each.

Goal: ``/v1/wallet`` costs at most twice ``/v1/whoami``, whatever the lease count.
"""

import os
import statistics
import sys
import time
from datetime import timedelta

from tests.bench.finance import inprocess_setup

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/layers_bench_wallet"
GOAL_RATIO = 2.0


def _seed(leases: int):
    """One partner, ``leases`` running leases (50 per request), two years of balance."""
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from billing.services.movements import wallet_fund
    from leasing.models import AccountState, Lease, SocialAccount
    from leasing.periods import period_start
    from tests.conftest import make_partner
    from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory

    partner = make_partner(wallet_cents=0)
    price = settings.LEASE_PRICE_CENTS
    for _ in range(23):  # a month of every lease per top-up, under any movement ceiling
        wallet_fund(organization=partner.organization, amount_cents=leases * price)
    pool = PoolFactory()
    accounts = SocialAccount.objects.bulk_create(
        SocialAccountFactory.build(pool=pool, state=AccountState.LEASED) for _ in range(leases)
    )
    now = timezone.now()
    rows = []
    for start in range(0, leases, 50):
        request = LeaseRequestFactory(project=partner.project, count=50)
        for n, account in enumerate(accounts[start : start + 50]):
            assigned_at = now - timedelta(minutes=(start + n) * 8)  # one a few minutes apart
            rows.append(
                Lease(
                    social_account=account,
                    lease_request=request,
                    project=partner.project,
                    monthly_price_cents=price,
                    assigned_at=assigned_at,
                    periods_paid=1,
                    next_renewal_at=period_start(assigned_at, 1),
                )
            )
    Lease.objects.bulk_create(rows)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return partner


def _timed(client, path) -> tuple[float, float, int]:
    """CPU ms of this process, wall ms (the database's share included), SQL statements."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        cpu, wall = time.process_time(), time.perf_counter()
        response = client.get(path)
        cpu, wall = (time.process_time() - cpu) * 1000, (time.perf_counter() - wall) * 1000
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code}: {response.content[:200]!r}")
    return cpu, wall, len(queries)


def main() -> int:
    leases = int(os.environ.get("BENCH_WALLET_LEASES", "5000"))
    requests = int(os.environ.get("BENCH_WALLET_REQUESTS", "40"))
    inprocess_setup(os.environ.get("BENCH_WALLET_DATABASE_URL", DEFAULT_URL))
    began = time.perf_counter()
    partner = _seed(leases)
    print(f"seeded {leases} leases in {time.perf_counter() - began:.1f} s", flush=True)

    paths = ["/v1/whoami", "/v1/wallet"]
    cpu: dict[str, list[float]] = {path: [] for path in paths}
    wall: dict[str, list[float]] = {path: [] for path in paths}
    statements: dict[str, int] = {}
    for path in paths:  # warm-up
        _timed(partner.client, path)
    for _ in range(requests):
        for path in paths:
            cpu_ms, wall_ms, statements[path] = _timed(partner.client, path)
            cpu[path].append(cpu_ms)
            wall[path].append(wall_ms)
    body = partner.client.get("/v1/wallet").json()

    print(f"{'endpoint':<14}{'median CPU ms':>15}{'median wall ms':>16}{'SQL':>6}")
    for path in paths:
        print(
            f"{path:<14}{statistics.median(cpu[path]):>15.2f}"
            f"{statistics.median(wall[path]):>16.2f}{statements[path]:>6}"
        )
    for label, spent in (("CPU", cpu), ("wall", wall)):
        ratio = statistics.median(spent["/v1/wallet"]) / statistics.median(spent["/v1/whoami"])
        verdict = "PASS" if ratio <= GOAL_RATIO else "MISS"
        print(f"wallet/whoami ({label}): {ratio:.2f} (goal <= {GOAL_RATIO}: {verdict})")
    print(f"{body['activeLeases']} leases, runwayDays {body['runwayDays']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
