"""Throughput of ``POST /v1/projects/{projectId}/leased-accounts/request`` under load.

What it does: migrates a PostgreSQL database (``DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/layers_bench``, created if missing), onboards a fresh
partner on the ``internal`` rate-limit tier (so the limiter never answers 429, while its
Redis counters at ``REDIS_URL`` are still spent on every request), starts gunicorn with 4
sync workers and DEBUG off on ``tests.bench.settings``, then drives two targets with wrk:

* real:     the partner endpoint, with auth, scopes, rate limit, Idempotency-Key,
            validation, wallet check and the INSERT, each request with a new key;
* baseline: ``POST /bench/baseline``, one key lookup and the same INSERT, through the
            same middleware, parser and renderer (``tests.bench.baseline``).

After a warm-up, each round runs both targets back to back (the order flips every round)
for ``BENCH_SECONDS`` (15) with ``BENCH_THREADS`` (2) wrk threads and
``BENCH_CONNECTIONS`` (16) connections; ``BENCH_ROUNDS`` (3) rounds. The table shows
per-target medians over the rounds. Separately ~20 sequential requests per target read
``X-Query-Count`` (the SQL statements a request ran). ``BENCH_SHOW_SQL=1`` also prints
the statements of one real POST.

How to read it: ``real/baseline`` is the fraction of bare-Django throughput the endpoint
keeps (goal >= 0.75). The median of queries per real POST should stay <= 8; the max
includes the API key's ``last_used_at`` UPDATE (at most once per key every 5 minutes).
``rows/2xx`` compares LeaseRequest rows created with 2xx answers wrk counted: rows may
exceed answers by the requests in flight when wrk stopped, never fall short. Both goals
print PASS or MISS and never change the exit status. The run exits non-zero when the
server failed, any request answered a non-2xx status or a socket error, a 2xx answer
left no LeaseRequest row, or the server logged an error. The server shares the machine
with wrk and PostgreSQL, so compare numbers from the same machine only.
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tests.bench import renewals

ROOT = Path(__file__).resolve().parents[2]
LUA_SCRIPT = Path(__file__).with_name("post.lua")
BIN = Path(sys.executable).parent

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/layers_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
THROUGHPUT_GOAL = 0.75
QUERY_GOAL = 8
PROBE_REQUESTS = 20
BODY_NICHE = {"vertical": "coffee", "language": "en", "geo": ["US"]}


class BenchError(Exception):
    """The benchmark could not run, or the server misbehaved under it."""


@dataclass(frozen=True)
class Config:
    database_url: str
    redis_url: str
    seconds: int
    rounds: int
    warmup_seconds: int
    threads: int
    connections: int
    workers: int
    show_sql: bool

    @classmethod
    def from_env(cls) -> "Config":
        def number(name: str, default: int) -> int:
            raw = os.environ.get(name, str(default))
            if not raw.isdigit() or int(raw) < 1:
                raise BenchError(f"{name} must be a positive integer, not {raw!r}.")
            return int(raw)

        return cls(
            database_url=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            redis_url=os.environ.get("REDIS_URL", DEFAULT_REDIS_URL),
            seconds=number("BENCH_SECONDS", 15),
            rounds=number("BENCH_ROUNDS", 3),
            warmup_seconds=number("BENCH_WARMUP_SECONDS", 3),
            threads=number("BENCH_THREADS", 2),
            connections=number("BENCH_CONNECTIONS", 16),
            workers=number("BENCH_WORKERS", 4),
            show_sql=os.environ.get("BENCH_SHOW_SQL", "") not in ("", "0"),
        )


@dataclass(frozen=True)
class Partner:
    organization_id: str
    project_id: str
    api_key: str


@dataclass(frozen=True)
class Target:
    name: str
    path: str


@dataclass(frozen=True)
class WrkRun:
    requests: int
    seconds: float
    status_errors: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass
class TargetResults:
    target: Target
    runs: list[WrkRun] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    ok_answers: int = 0  # 2xx answers wrk counted in measured runs and warm-up
    rows_created: int = 0  # LeaseRequest rows those runs left

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


# Setup ---------------------------------------------------------------------------------


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed: run `sudo apt-get install -y wrk` first.")
    print("wrk is missing; installing it with apt-get ...", flush=True)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk but it is not on PATH.")
    return found


def ensure_database(database_url: str) -> None:
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise BenchError(f"DATABASE_URL must be a postgres:// URL, not {parts.scheme}://.")
    name = parts.path.lstrip("/")
    if not name:
        raise BenchError("DATABASE_URL names no database.")
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"created database {name}", flush=True)
    except psycopg.OperationalError as exc:
        raise BenchError(f"Cannot reach PostgreSQL at {admin_url}: {exc}") from exc


def server_env(config: Config) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    return {
        **os.environ,
        "DATABASE_URL": config.database_url,
        "REDIS_URL": config.redis_url,
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "tests.bench.settings",
        "PYTHONUNBUFFERED": "1",
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise BenchError(f"manage.py {args[0]} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def create_partner(env: dict[str, str]) -> Partner:
    out = manage(
        env,
        "create_partner",
        "--name",
        f"Bench {secrets.token_hex(4)}",
        "--wallet-cents",
        "100000000",
        "--scopes",
        "*",
        "--tier",
        "internal",
    )
    data = json.loads(out.strip().splitlines()[-1])
    return Partner(data["organizationId"], data["projectId"], data["apiKey"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The server ----------------------------------------------------------------------------


class Server:
    """gunicorn in its own process group, its output in a temporary log file."""

    def __init__(self, env: dict[str, str], workers: int):
        self.env = env
        self.workers = workers
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix="bench-gunicorn-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        script = BIN / "gunicorn"
        gunicorn = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
        command = [
            *gunicorn,
            "layers_ops.wsgi:application",
            "--workers",
            str(self.workers),
            "--bind",
            f"127.0.0.1:{self.port}",
        ]
        options = subprocess.run([*gunicorn, "--help"], capture_output=True, text=True).stdout
        if "--no-control-socket" in options:
            command.append("--no-control-socket")  # else newer gunicorn writes ~/.gunicorn
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches us only; we stop it in order
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}.")
            try:
                urllib.request.urlopen(f"{self.base_url}/v1/whoami", timeout=2)
            except urllib.error.HTTPError:
                return  # any HTTP answer (401 here) means a worker is serving
            except OSError:
                time.sleep(0.2)
                continue
            return
        raise BenchError("gunicorn did not answer within 30 s.")

    def assert_alive(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise BenchError("gunicorn died during the benchmark.")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def logged_errors(self) -> list[str]:
        return [
            line
            for line in self.log_text().splitlines()
            if " ERROR " in line or "Traceback" in line or "[CRITICAL]" in line
        ]


# Measuring -----------------------------------------------------------------------------


def request_body(partner: Partner) -> dict:
    return {"projectId": partner.project_id, "count": 1, "niche": BODY_NICHE}


def post(server: Server, partner: Partner, target: Target, *, trace_sql: bool = False):
    headers = {
        "Authorization": f"Bearer {partner.api_key}",
        "Content-Type": "application/json",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    if trace_sql:
        headers["X-Bench-Sql"] = "1"
    req = urllib.request.Request(
        server.base_url + target.path,
        data=json.dumps(request_body(partner)).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def probe_queries(server: Server, partner: Partner, results: TargetResults) -> None:
    """Queries per request, from sequential requests; any non-2xx answer is an error."""
    for _ in range(PROBE_REQUESTS):
        status, headers, body = post(server, partner, results.target)
        if not 200 <= status < 300:
            raise BenchError(
                f"{results.target.name} answered {status}: {body.decode(errors='replace')[:500]}"
            )
        results.queries.append(int(headers["X-Query-Count"]))


def print_sql(server: Server, partner: Partner, target: Target) -> None:
    status, headers, _ = post(server, partner, target, trace_sql=True)
    statements = json.loads(headers.get("X-Query-Sql", "[]"))
    print(f"\nSQL of one {target.name} POST ({status}, {len(statements)} statements):")
    for number, statement in enumerate(statements, 1):
        print(f"  {number}. [{statement['ms']:.2f} ms] {statement['sql']}")
        print(f"       params: {statement['params']}")


_RESULT_LINE = re.compile(r"^BENCH_RESULT (.*)$", re.MULTILINE)


def run_wrk(wrk: str, config: Config, server: Server, partner: Partner, target: Target, seconds):
    command = [
        wrk,
        f"-t{config.threads}",
        f"-c{config.connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        server.base_url + target.path,
        "--",
        partner.api_key,
        partner.project_id,
        str(secrets.randbelow(2**31)),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    match = _RESULT_LINE.search(result.stdout)
    if result.returncode != 0 or not match:
        raise BenchError(f"wrk failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    values = {key: int(value) for key, value in (p.split("=") for p in match.group(1).split())}
    return WrkRun(
        requests=values["requests"],
        seconds=values["duration_us"] / 1e6,
        status_errors=values["status_errors"],
        socket_errors=sum(
            values[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts")
        ),
        p50_ms=values["p50_us"] / 1000,
        p99_ms=values["p99_us"] / 1000,
    )


@contextmanager
def counting_rows(database_url: str, partner: Partner, results: TargetResults):
    """Adds the LeaseRequest rows created inside the block to ``results.rows_created``."""

    def count() -> int:
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM leasing_leaserequest WHERE project_id = %s",
                [partner.project_id],
            ).fetchone()
            return row[0]

    before = count()
    yield
    time.sleep(0.5)  # let requests wrk abandoned at its deadline commit
    results.rows_created += count() - before


def load(wrk, config, server, partner, results: TargetResults, seconds, *, measured: bool):
    with counting_rows(config.database_url, partner, results):
        run = run_wrk(wrk, config, server, partner, results.target, seconds)
    server.assert_alive()
    results.ok_answers += run.requests - run.status_errors
    label = "round" if measured else "warm-up"
    print(
        f"  {label:8} {results.target.name:9} {run.rps:8.1f} req/s  p50 {run.p50_ms:7.1f} ms  "
        f"p99 {run.p99_ms:7.1f} ms  non-2xx {run.status_errors}  socket errors "
        f"{run.socket_errors}",
        flush=True,
    )
    if measured:
        results.runs.append(run)
    if run.status_errors or run.socket_errors:
        status, _, body = post(server, partner, results.target)
        raise BenchError(
            f"{results.target.name}: {run.status_errors} non-2xx answers and "
            f"{run.socket_errors} socket errors under load; a single request now answers "
            f"{status}: {body.decode(errors='replace')[:500]}"
        )


# Reporting -----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(config: Config, real: TargetResults, baseline: TargetResults) -> None:
    print(
        f"\nResults: medians of {config.rounds} rounds x {config.seconds} s, "
        f"wrk -t{config.threads} -c{config.connections}, gunicorn {config.workers} workers"
    )
    header = (
        f"{'target':10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'queries med/max':>16} "
        f"{'rows/2xx':>12}"
    )
    print(header)
    print("-" * len(header))
    for results in (real, baseline):
        queries = f"{statistics.median(results.queries):g}/{max(results.queries)}"
        rows = f"{results.rows_created}/{results.ok_answers}"
        print(
            f"{results.target.name:10} {results.median('rps'):9.1f} "
            f"{results.median('p50_ms'):8.1f} {results.median('p99_ms'):8.1f} "
            f"{queries:>16} {rows:>12}"
        )
    ratio = real.median("rps") / baseline.median("rps")
    real_queries = statistics.median(real.queries)
    print("-" * len(header))
    print(
        f"throughput real/baseline: {ratio:.2f}  (goal >= {THROUGHPUT_GOAL})  "
        f"{verdict(ratio >= THROUGHPUT_GOAL)}"
    )
    print(
        f"queries per real POST:    {real_queries:g} median, {max(real.queries)} max  "
        f"(goal <= {QUERY_GOAL})  {verdict(real_queries <= QUERY_GOAL)}"
    )


def check_rows(results: TargetResults) -> None:
    # Rows can exceed 2xx answers (requests in flight when wrk stopped), never fall short.
    if results.rows_created < results.ok_answers:
        raise BenchError(
            f"{results.target.name}: {results.ok_answers} 2xx answers but only "
            f"{results.rows_created} LeaseRequest rows: some answers queued nothing."
        )


# Main ----------------------------------------------------------------------------------


def bench(config: Config, wrk: str, server: Server, partner: Partner) -> None:
    real = TargetResults(
        Target("real", f"/v1/projects/{partner.project_id}/leased-accounts/request")
    )
    baseline = TargetResults(Target("baseline", "/bench/baseline"))

    for results in (real, baseline):
        probe_queries(server, partner, results)
    if config.show_sql:
        print_sql(server, partner, real.target)
        print_sql(server, partner, baseline.target)

    print(f"\nwarm-up ({config.warmup_seconds} s per target), then {config.rounds} rounds:")
    for results in (real, baseline):
        load(wrk, config, server, partner, results, config.warmup_seconds, measured=False)
    for round_number in range(config.rounds):
        order = (real, baseline) if round_number % 2 == 0 else (baseline, real)
        for results in order:
            load(wrk, config, server, partner, results, config.seconds, measured=True)

    for results in (real, baseline):
        check_rows(results)
    report(config, real, baseline)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def http_main() -> int:
    signal.signal(signal.SIGTERM, _interrupt)  # a plain `kill` cleans up like Ctrl-C
    server = None
    keep_log = False
    try:
        config = Config.from_env()
        wrk = ensure_wrk()
        ensure_database(config.database_url)
        env = server_env(config)
        manage(env, "migrate", "--noinput", "-v0")
        partner = create_partner(env)
        server = Server(env, config.workers)
        print(
            f"server {server.base_url}, organization {partner.organization_id}, "
            f"project {partner.project_id}",
            flush=True,
        )
        server.start()
        bench(config, wrk, server, partner)
        errors = server.logged_errors()
        if errors:
            raise BenchError("the server logged errors:\n" + "\n".join(errors[:20]))
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        if server is not None:
            keep_log = True
            tail = "\n".join(server.log_text().splitlines()[-30:])
            print(f"\nlast lines of {server.log.name}:\n{tail}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if server is not None:
            server.stop()
            if not keep_log:
                Path(server.log.name).unlink(missing_ok=True)
    return 0


def main() -> int:
    """``make bench``: the HTTP benchmark, then renewals (``tests.bench.renewals``). One
    section alone: ``python -m tests.bench.run renewals`` (or ``http``), or ``BENCH_ONLY``."""
    only = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_ONLY", "")
    if only not in ("", "http", "renewals"):
        print(f"Unknown section {only!r}: choose http or renewals.", file=sys.stderr)
        return 2
    status = 0
    if only in ("", "http"):
        status = http_main()
    if status == 0 and only in ("", "renewals"):
        status = renewals.main()
    return status


if __name__ == "__main__":
    sys.exit(main())
