"""The ops console's numbers: ranking + allocating 50 accounts, and the queue page.

Run on its own with ``python -m tests.bench.run ops`` (or ``BENCH_SECTION=ops make
bench``); ``make bench`` runs it after the API benchmark. It uses ``DATABASE_URL``
(PostgreSQL; default ``layers_bench``), migrated by the caller, with DEBUG off.

* allocate: a request for 50 coffee accounts, ranked (``allocation_candidates``, what
  the Allocate page shows) and then assigned with ``allocation_pick_best`` (rank again
  under ``FOR UPDATE SKIP LOCKED``, lease, charge, log), from a pool holding 100,000
  ready accounts and from one holding 100. Each round refills the pools. Goal: under
  150 ms for 100,000 and at most 1.5 times the 100-account time.
* queue page: the admin changelist (default view: open requests, oldest first, 50 per
  page) with 10 and with 10,000 open requests. Goal: the same SQL query count.

Prints medians over ``BENCH_OPS_ROUNDS`` (default 7) rounds, with SQL query counts.
"""

import os
import secrets
import statistics
import sys
import time

BIG, SMALL = 100_000, 100
PICK = 50


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.bench.settings")
    import django

    django.setup()


def _pool(name: str, vertical: str, size: int):
    """A pool of ``size`` ready accounts tagged ``vertical`` (refilled, never rebuilt)."""
    from leasing.models import AccountState, Pool, SocialAccount

    pool, _ = Pool.objects.get_or_create(
        name=name, defaults={"tags": [vertical], "language": "en", "geos": ["US", "CA", "GB"]}
    )
    missing = size - pool.accounts.filter(state=AccountState.READY).count()
    geos = [["US"], ["US", "CA"], ["GB"], ["CA", "GB", "US"], ["DE"], ["US", "GB"]]
    stem = secrets.token_hex(3)
    batch = []
    for i in range(max(missing, 0)):
        batch.append(
            SocialAccount(
                pool=pool,
                handle=f"bench_{stem}_{i}",
                followers=(i * 7_919) % 250_000,
                follower_geos=geos[i % len(geos)],
                state=AccountState.READY,
            )
        )
        if len(batch) == 5_000:
            SocialAccount.objects.bulk_create(batch)
            batch = []
    SocialAccount.objects.bulk_create(batch)
    return pool


def _timed(call):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - started
    return result, elapsed * 1000, len(queries)


def bench_allocation(rounds: int) -> dict:
    from django.db import connection
    from django.utils import timezone

    from billing.services.onboarding import partner_onboard
    from leasing.models import LeaseRequest
    from leasing.ranking import allocation_candidates
    from leasing.services.allocation import allocation_pick_best
    from leasing.sla import sla_due_at

    partner = partner_onboard(
        name=f"Ops bench {secrets.token_hex(4)}", wallet_cents=rounds * 4 * PICK * 15_000
    )
    results = {}
    for label, size, vertical in (("100,000", BIG, "benchbig"), ("100", SMALL, "benchsmall")):
        print(f"  allocate: filling the {label}-account pool ...", flush=True)
        rank_ms, rank_q, alloc_ms, alloc_q = [], [], [], []
        for round_number in range(rounds + 1):  # round 0 warms caches and is not counted
            _pool(f"bench pool {vertical}", vertical, size)
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE leasing_socialaccount")
            now = timezone.now()
            lease_request = LeaseRequest.objects.create(
                organization=partner.organization,
                project=partner.project,
                count=PICK,
                vertical=vertical,
                vertical_key=vertical,
                language="en",
                geo=["US", "CA"],
                submitted_at=now,
                sla_due_at=sla_due_at(now),
            )
            candidates, ms, queries = _timed(
                lambda lr=lease_request: allocation_candidates(lr, limit=PICK)
            )
            assert len(candidates) == PICK
            allocation, ams, aqueries = _timed(
                lambda lr=lease_request: allocation_pick_best(
                    lease_request=lr, count=PICK, actor=None
                )
            )
            assert len(allocation.leases) == PICK
            if round_number:
                rank_ms.append(ms)
                rank_q.append(queries)
                alloc_ms.append(ams)
                alloc_q.append(aqueries)
        results[label] = {
            "rank_ms": statistics.median(rank_ms),
            "rank_queries": max(rank_q),
            "alloc_ms": statistics.median(alloc_ms),
            "alloc_queries": max(alloc_q),
        }
    return results


def bench_queue_page(rounds: int) -> dict:
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from billing.services.onboarding import partner_onboard
    from leasing.models import LeaseRequest, RequestStatus
    from leasing.sla import sla_due_at

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    user, _ = get_user_model().objects.get_or_create(
        username="ops-bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    # Only this section's requests are open while it runs.
    LeaseRequest.objects.filter(status=RequestStatus.REQUESTED).update(
        status=RequestStatus.CANCELLED, closed_at=timezone.now()
    )
    partners = [partner_onboard(name=f"Queue bench {secrets.token_hex(4)}") for _ in range(20)]

    def add(n: int, offset: int) -> None:
        now = timezone.now()
        rows = []
        for i in range(n):
            partner = partners[(offset + i) % len(partners)]
            at = now - timezone.timedelta(minutes=offset + i)
            rows.append(
                LeaseRequest(
                    organization=partner.organization,
                    project=partner.project,
                    count=1 + i % 10,
                    vertical=("coffee", "fitness", "mobile games")[i % 3],
                    vertical_key=("coffee", "fitness", "mobile games")[i % 3],
                    language="en",
                    geo=["US"],
                    submitted_at=at,
                    sla_due_at=sla_due_at(at),
                    claimed_by=user if i % 4 == 0 else None,
                    public_id=f"qb-{secrets.token_hex(6)}",
                )
            )
        LeaseRequest.objects.bulk_create(rows, batch_size=2_000)

    def measure() -> tuple[float, int]:
        times, counts = [], []
        for round_number in range(rounds + 1):
            response, ms, queries = _timed(lambda: client.get("/admin/leasing/leaserequest/"))
            assert response.status_code == 200, response.status_code
            if round_number:
                times.append(ms)
                counts.append(queries)
        return statistics.median(times), max(counts)

    results = {}
    add(10, 0)
    results["10"] = measure()
    print("  queue page: adding 9,990 open requests ...", flush=True)
    add(9_990, 10)
    results["10,000"] = measure()
    LeaseRequest.objects.filter(public_id__startswith="qb-", leases__isnull=True).delete()
    return results


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    _setup()
    rounds = int(os.environ.get("BENCH_OPS_ROUNDS", "7"))
    print(f"\nops console ({rounds} rounds, medians):", flush=True)
    allocation = bench_allocation(rounds)
    queue = bench_queue_page(rounds)

    print(
        "\n| ready accounts | rank 50 (Allocate page) | queries "
        "| rank + assign 50 (pick best) | queries |"
    )
    print("| --- | --- | --- | --- | --- |")
    for label, row in allocation.items():
        print(
            f"| {label} | {row['rank_ms']:.1f} ms | {row['rank_queries']} | "
            f"{row['alloc_ms']:.1f} ms | {row['alloc_queries']} |"
        )
    big, small = allocation["100,000"], allocation["100"]
    ratio = big["alloc_ms"] / small["alloc_ms"]
    print(
        f"pick best 50 of 100,000: {big['alloc_ms']:.1f} ms (goal < 150 ms: "
        f"{verdict(big['alloc_ms'] < 150)}); vs 100: x{ratio:.2f} (goal <= 1.5: "
        f"{verdict(ratio <= 1.5)})"
    )
    print("\n| open requests | queue page | queries |")
    print("| --- | --- | --- |")
    for label, (ms, queries) in queue.items():
        print(f"| {label} | {ms:.1f} ms | {queries} |")
    same = queue["10"][1] == queue["10,000"][1]
    print(f"same query count with 10 and 10,000: {verdict(same)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
