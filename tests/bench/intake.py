"""CSV intake of warmed accounts at scale: 100,000 rows through ``accounts_import``.

What it does: migrates the PostgreSQL database (``DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/layers_bench``, created if missing), builds a CSV of
``BENCH_INTAKE_ROWS`` (100,000) new accounts in memory, and for ``BENCH_INTAKE_ROUNDS``
(3) rounds times, in this process, exactly what ``import_accounts`` and the admin run:

* add:    ``rows_read`` + ``accounts_import`` of the file into a new pool (every row a
          new account, one AccountEvent each);
* update: the same file again with other follower counts (every row an update).

It prints each round and the medians: seconds, SQL statements, rows per second. The goal
is an import under 60 s (PASS/MISS; never changes the exit status). The accounts a round
created are deleted afterwards, so the database does not grow between runs.

Run it alone with ``python -m tests.bench.run intake`` or ``BENCH_SECTION=intake``
(``make bench`` runs it after the other sections), or ``python -m tests.bench.intake``.
"""

import os
import secrets
import statistics
import string
import sys
import time

from tests.bench.run import DEFAULT_DATABASE_URL, BenchError, ensure_database

GOAL_SECONDS = 60


def _number(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise BenchError(f"{name} must be a positive integer, not {raw!r}.")
    return int(raw)


def _django(database_url: str) -> None:
    alphabet = string.ascii_letters + string.digits
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("SECRET_KEY", "".join(secrets.choice(alphabet) for _ in range(60)))
    os.environ["DEBUG"] = "false"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.bench.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", "--noinput", verbosity=0)


def _csv(prefix: str, rows: int, bump: int = 0) -> str:
    geos = ["US", "US|CA", "GB", "US|GB|CA", "BR"]
    lines = ["handle,followers,geo"]
    lines += [f"@{prefix}_{i:06d},{1000 + i * 7 + bump},{geos[i % 5]}" for i in range(rows)]
    return "\r\n".join(lines) + "\r\n"


def _timed(label: str, text: str, **options):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leasing.intake import accounts_import, rows_read

    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        report = accounts_import(rows=rows_read(text), **options)
        seconds = time.perf_counter() - started
    if not report.written or report.refused:
        raise BenchError(f"{label}: the import wrote nothing or refused rows: {report.refused[:3]}")
    rows = report.importable
    print(
        f"  {label:7} {rows:,} rows  {seconds:6.2f} s  {len(queries):5} SQL statements  "
        f"{rows / seconds:9,.0f} rows/s",
        flush=True,
    )
    return seconds, len(queries)


def _cleanup(pool_name: str) -> None:
    from leasing.models import AccountImport, Pool, SocialAccount

    pool = Pool.objects.filter(name=pool_name).first()
    if pool is not None:
        AccountImport.objects.filter(pool=pool).delete()
        SocialAccount.objects.filter(pool=pool).delete()  # their events cascade
        pool.delete()


def bench_intake(database_url: str, rows: int, rounds: int) -> None:
    _django(database_url)
    results = {"add": [], "update": []}
    print(f"\nCSV intake: {rows:,} accounts, {rounds} round(s), on {database_url}")
    for _ in range(rounds):
        token = secrets.token_hex(3)
        pool_name = f"Bench intake {token}"
        try:
            options = {"pool_name": pool_name, "verticals": "coffee", "geos": "US CA"}
            results["add"].append(_timed("add", _csv(f"b{token}", rows), **options))
            results["update"].append(_timed("update", _csv(f"b{token}", rows, 3), **options))
        finally:
            _cleanup(pool_name)
    for kind, runs in results.items():
        seconds = statistics.median(s for s, _ in runs)
        queries = statistics.median(q for _, q in runs)
        verdict = "PASS" if seconds < GOAL_SECONDS else "MISS"
        print(
            f"intake {kind:6} median {seconds:6.2f} s for {rows:,} rows, {queries:g} SQL "
            f"statements  (goal < {GOAL_SECONDS} s)  {verdict}"
        )


def main() -> int:
    try:
        database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
        ensure_database(database_url)
        bench_intake(
            database_url,
            rows=_number("BENCH_INTAKE_ROWS", 100_000),
            rounds=_number("BENCH_INTAKE_ROUNDS", 3),
        )
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
