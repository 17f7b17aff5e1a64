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

Then, each in a child process so its peak memory (maximum resident set size) is its own:

* cli:       ``manage.py import_accounts`` of a file of ``BENCH_INTAKE_CLI_ROWS``
             (1,000,000) new accounts; goal under 512 MB peak RSS;
* oversize:  the admin import page posted a ``BENCH_INTAKE_OVERSIZE_MB`` (150) MB file,
             in-process through Django's test client; goal refused in under 1 s;
* preview:   the admin preview of a file just under ``INTAKE_MAX_UPLOAD_MB`` (about
             800,000 rows at the default 20 MB), reported (no goal).

``BENCH_INTAKE_CASES`` (default ``rounds,cli,oversize,preview``) picks among them.

Run it alone with ``python -m tests.bench.run intake`` or ``BENCH_SECTION=intake``
(``make bench`` runs it after the other sections), or ``python -m tests.bench.intake``.
"""

import json
import os
import secrets
import statistics
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.run import DEFAULT_DATABASE_URL, BenchError, ensure_database

GOAL_SECONDS = 60
CLI_GOAL_MB = 512
OVERSIZE_GOAL_SECONDS = 1.0
CASES = ("rounds", "cli", "oversize", "preview")
ROOT = Path(__file__).resolve().parents[2]


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

    from leasing.intake import accounts_import
    from leasing.intake_parsing import rows_read

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
    """Deletes what a run imported, in plain SQL: Django's cascading delete would load
    every account and event (gigabytes for a million)."""
    from django.db import connection, transaction

    from leasing.models import AccountEvent, AccountImport, Pool, SocialAccount

    pool = Pool.objects.filter(name=pool_name).first()
    if pool is None:
        return
    accounts, events = SocialAccount._meta, AccountEvent._meta
    account_fk = events.get_field("account").column
    pool_fk = accounts.get_field("pool").column
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{events.db_table}" WHERE "{account_fk}" IN '
            f'(SELECT "{accounts.pk.column}" FROM "{accounts.db_table}" WHERE "{pool_fk}" = %s)',
            [pool.pk],
        )
        cursor.execute(f'DELETE FROM "{accounts.db_table}" WHERE "{pool_fk}" = %s', [pool.pk])
        AccountImport.objects.filter(pool=pool).delete()
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


def _write_csv(path: Path, prefix: str, rows: int) -> int:
    geos = ["US", "US|CA", "GB", "US|GB|CA", "BR"]
    with open(path, "w", newline="") as out:
        out.write("handle,followers,geo\r\n")
        for i in range(rows):
            out.write(f"@{prefix}_{i:07d},{1000 + i * 7},{geos[i % 5]}\r\n")
    return path.stat().st_size


def _child(args: list[str], **env) -> tuple[float, float, str]:
    """Runs a child process (the environment ``_django`` set up, plus ``env``); returns its
    wall seconds, its own peak RSS in MB (``wait4``) and its output."""
    started = time.perf_counter()
    child = subprocess.Popen(
        args,
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    if child.returncode:
        raise BenchError(f"{' '.join(args[1:4])} failed:\n{output[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, output


def bench_cli(rows: int) -> None:
    """import_accounts of ``rows`` new accounts, in a child process: seconds and peak RSS."""
    token = secrets.token_hex(3)
    pool_name = f"Bench intake CLI {token}"
    print(f"\nCSV intake through the command: {rows:,} new accounts", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "accounts.csv"
        size = _write_csv(path, f"c{token}", rows)
        command = [sys.executable, "manage.py", "import_accounts", str(path)]
        command += ["--pool", pool_name, "--verticals", "coffee", "-v", "0"]
        try:
            seconds, peak_mb, _ = _child(command)
        finally:
            _cleanup(pool_name)
    verdict = "PASS" if peak_mb < CLI_GOAL_MB else "MISS"
    print(
        f"intake cli    {rows:,} rows ({size / 2**20:,.0f} MB)  {seconds:6.1f} s  "
        f"peak RSS {peak_mb:,.0f} MB  (goal < {CLI_GOAL_MB} MB)  {verdict}",
        flush=True,
    )


def bench_admin(case: str, megabytes: int) -> None:
    """An admin case in a child process (``python -m tests.bench.intake admin CASE MB``)."""
    command = [sys.executable, "-m", "tests.bench.intake", "admin", case, str(megabytes)]
    with tempfile.TemporaryDirectory() as uploads:  # the preview keeps its file there
        _, peak_mb, output = _child(command, INTAKE_UPLOAD_DIR=uploads)
    result = json.loads(output.strip().splitlines()[-1])
    if case == "oversize":
        met = result["refused"] and result["seconds"] < OVERSIZE_GOAL_SECONDS
        verdict = "PASS" if met else "MISS"
        print(
            f"intake admin  {megabytes} MB file refused in {result['seconds']:.2f} s "
            f"(server time; HTTP {result['status']}, refused: {result['refused']}; peak RSS "
            f"{peak_mb:,.0f} MB, the request body built in memory included)  "
            f"(goal < {OVERSIZE_GOAL_SECONDS:g} s)  {verdict}",
            flush=True,
        )
    else:
        print(
            f"intake admin  preview of {result['rows']:,} rows ({result['megabytes']:.1f} MB) "
            f"in {result['seconds']:.1f} s (HTTP {result['status']}, previewed: "
            f"{result['previewed']}), peak RSS {peak_mb:,.0f} MB",
            flush=True,
        )


def admin_case(case: str, megabytes: int) -> None:
    """In this (child) process: post a file to the admin import page, print JSON."""
    _django(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client, RequestFactory
    from django.urls import reverse

    if case == "preview":
        megabytes = settings.INTAKE_MAX_UPLOAD_MB
    line = "@p{:07d},{},US|CA\r\n"
    rows = (megabytes * 2**20 - 100) // len(line.format(0, 1000))
    header = "handle,followers,geo\r\n"
    data = (header + "".join(line.format(i, 1000) for i in range(rows))).encode()
    user = get_user_model().objects.create_superuser(f"bench-{secrets.token_hex(4)}")
    try:
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        url = reverse("admin:leasing_socialaccount_import")
        form = {
            "import_file": SimpleUploadedFile("big.csv", data, content_type="text/csv"),
            "format": "0",
            "pool": "Bench preview",
            "verticals": "coffee",
            "state": "ready",
        }
        # The request is built first (the test client's multipart encoding is not the
        # server's work), then only the handler is timed: parsing, refusing, rendering.
        environ = RequestFactory().post(url, form, secure=True, HTTP_HOST="127.0.0.1").environ
        environ["HTTP_COOKIE"] = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
        started = time.perf_counter()
        response = client.handler(environ)
        seconds = time.perf_counter() - started
        html = response.content.decode()
        print(
            json.dumps(
                {
                    "seconds": seconds,
                    "status": response.status_code,
                    "refused": "nothing was read" in html,
                    "rows": rows,
                    "megabytes": len(data) / 2**20,
                    "previewed": "Preview: nothing is written" in html,
                }
            )
        )
    finally:
        user.delete()


def main() -> int:
    if sys.argv[1:2] == ["admin"]:
        admin_case(sys.argv[2], int(sys.argv[3]))
        return 0
    try:
        database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
        ensure_database(database_url)
        cases = [
            c.strip() for c in os.environ.get("BENCH_INTAKE_CASES", ",".join(CASES)).split(",")
        ]
        unknown = [c for c in cases if c not in CASES]
        if unknown:
            raise BenchError(f"BENCH_INTAKE_CASES: unknown {unknown}; choose among {CASES}.")
        if "rounds" in cases:
            bench_intake(
                database_url,
                rows=_number("BENCH_INTAKE_ROWS", 100_000),
                rounds=_number("BENCH_INTAKE_ROUNDS", 3),
            )
        else:
            _django(database_url)
        if "cli" in cases:
            bench_cli(rows=_number("BENCH_INTAKE_CLI_ROWS", 1_000_000))
        if "oversize" in cases:
            bench_admin("oversize", _number("BENCH_INTAKE_OVERSIZE_MB", 150))
        if "preview" in cases:
            bench_admin("preview", 0)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
