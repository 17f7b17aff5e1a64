"""Throughput of ``POST /v1/projects/{projectId}/leased-accounts/request`` under load.

What it does: migrates a PostgreSQL database (``DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/layers_bench``, created if missing), onboards a fresh
partner on the ``internal`` rate-limit tier (so the limiter never answers 429, while its
Redis counters at ``REDIS_URL`` are still spent on every request), starts the server as
``make serve`` does (``BENCH_SERVER=gthread``: the threaded WSGI workers it had before)
with 4 workers and DEBUG off on ``tests.bench.settings``, then drives two targets with wrk:

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

Before the load runs (and without wrk), a refusal section sends, one at a time, the
worst bodies a client can send within the 2.5 MB limit: 400,000 ``niche.geo`` entries,
150,000 and 4,900 unknown fields, JSON nested 1,000 deep, a lone surrogate, 251 geo
entries, 2.4 MB strings. It prints, next to a valid POST's, the median server CPU time
of each 422 (``X-Cpu-Ms``, from ``tests.bench.middleware``; goal: at most twice a valid
POST's), the wall
time on loopback (the upload included) and the size of the answer.
``BENCH_REFUSALS_ONLY=1`` runs only that section.

How to read it: ``real/baseline`` is the fraction of bare-Django throughput the endpoint
keeps (goal >= 0.75), with a p99 latency under twice the baseline's. The median of SQL
statements per real POST should stay <= 5; the max includes the API key's first read in
a worker and its ``last_used_at`` UPDATE (at most once per key and worker every 5 minutes).
``rows/2xx`` compares LeaseRequest rows created with 2xx answers wrk counted: rows may
exceed answers by the requests in flight when wrk stopped, never fall short. Both goals
print PASS or MISS and never change the exit status. The run exits non-zero when the
server failed, any request answered a non-2xx status or a socket error, a 2xx answer
left no LeaseRequest row, or the server logged an error. The server shares the machine
with wrk and PostgreSQL, so compare numbers from the same machine only.
"""

import http.client
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
QUERY_GOAL = 5
P99_GOAL = 2.0  # real p99 / baseline p99
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
    server: str
    show_sql: bool
    refusals_only: bool

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
            server=os.environ.get("BENCH_SERVER", "serve"),
            show_sql=os.environ.get("BENCH_SHOW_SQL", "") not in ("", "0"),
            refusals_only=os.environ.get("BENCH_REFUSALS_ONLY", "") not in ("", "0"),
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


SERVERS = ("serve", "gthread")


class Server:
    """The server as ``make serve`` starts it (``layers_ops/gunicorn.conf.py``: uvicorn
    workers), or with ``kind="gthread"`` the threaded WSGI workers it used before (same
    file, ``-k gthread --threads 8`` on the WSGI app), in its own process group, its
    output in a temporary log file."""

    def __init__(self, env: dict[str, str], workers: int, kind: str = "serve"):
        if kind not in SERVERS:
            raise BenchError(f"BENCH_SERVER must be one of {', '.join(SERVERS)}, not {kind!r}.")
        self.env = env
        self.workers = workers
        self.kind = kind
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix="bench-server-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        script = BIN / "gunicorn"
        gunicorn = [str(script)] if script.exists() else [sys.executable, "-m", "gunicorn"]
        command = [
            *gunicorn,
            "-c",
            str(ROOT / "layers_ops" / "gunicorn.conf.py"),
            "--workers",
            str(self.workers),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--access-logfile",
            "/dev/null",
        ]
        if self.kind == "gthread":
            command += [
                "--worker-class",
                "gthread",
                "--threads",
                "8",
                "layers_ops.wsgi:application",
            ]
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


# Refusals ------------------------------------------------------------------------------

REFUSAL_REPEATS = 15
# A refusal may cost the server at most this many times the CPU of a valid POST (a few
# milliseconds), whatever the body; relative, so a busy machine does not move the goal.
REFUSAL_GOAL_RATIO = 2.0


def refusal_bodies(partner: Partner) -> dict[str, tuple[int, bytes]]:
    """The worst bodies within the size limit, with the status each must get."""
    body = request_body(partner)
    nested = json.dumps({**body, "note": "N"}).replace('"N"', "[" * 1_000 + "]" * 1_000)
    cases = {
        "valid POST (for scale)": (202, body),
        "niche.geo x 400,000": (422, {**body, "niche": {**BODY_NICHE, "geo": ["ZZ"] * 400_000}}),
        "150,000 unknown fields": (422, {**body, **{f"f{i}": 1 for i in range(150_000)}}),
        "4,900 unknown fields": (422, {**body, **{f"f{i}": 1 for i in range(4_900)}}),
        "niche.geo x 251": (422, {**body, "niche": {**BODY_NICHE, "geo": ["ZZ"] * 251}}),
        "note nested 1,000 deep": (422, nested),
        "note of 2,400,000 chars": (422, {**body, "note": "n" * 2_400_000}),
        "geo entry of 2,400,000 chars": (
            422,
            {**body, "niche": {**BODY_NICHE, "geo": ["g" * 2_400_000]}},
        ),
        "lone surrogate in geo": (422, {**body, "niche": {**BODY_NICHE, "geo": ["\ud800"]}}),
    }
    return {
        name: (status, (raw if isinstance(raw, str) else json.dumps(raw)).encode())
        for name, (status, raw) in cases.items()
    }


def send_raw(server: Server, partner: Partner, raw: bytes) -> tuple[int, bytes, float, float]:
    parts = urlsplit(server.base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        started = time.perf_counter()
        conn.request(
            "POST",
            f"/v1/projects/{partner.project_id}/leased-accounts/request",
            body=raw,
            headers={
                "Authorization": f"Bearer {partner.api_key}",
                "Content-Type": "application/json",
                "Idempotency-Key": str(uuid.uuid4()),
            },
        )
        response = conn.getresponse()
        answer = response.read()
        wall_ms = (time.perf_counter() - started) * 1000
        return response.status, answer, float(response.getheader("X-Cpu-Ms", "nan")), wall_ms
    finally:
        conn.close()


def refusals(server: Server, partner: Partner) -> None:
    print(f"\nrefusing hostile bodies (medians of {REFUSAL_REPEATS} sequential requests):")
    header = (
        f"{'body':30} {'size':>10} {'status':>6} {'answer':>8} {'server CPU ms':>14} {'wall ms':>8}"
    )
    print(header)
    print("-" * len(header))
    worst, valid = 0.0, float("nan")
    for name, (expected, raw) in refusal_bodies(partner).items():
        cpu, wall = [], []
        for _ in range(REFUSAL_REPEATS):
            status, answer, cpu_ms, wall_ms = send_raw(server, partner, raw)
            if status != expected:
                raise BenchError(f"{name}: expected {expected}, got {status}: {answer[:300]!r}")
            cpu.append(cpu_ms)
            wall.append(wall_ms)
        if expected == 202:
            valid = statistics.median(cpu)
        else:
            worst = max(worst, statistics.median(cpu))
        print(
            f"{name:30} {len(raw):>10,} {status:>6} {len(answer):>8,} "
            f"{statistics.median(cpu):>14.1f} {statistics.median(wall):>8.1f}"
        )
    print("-" * len(header))
    ratio = worst / valid
    ok = ratio <= REFUSAL_GOAL_RATIO
    print(
        f"most server CPU for a refusal: {worst:.1f} ms, {ratio:.2f} x a valid POST's "
        f"{valid:.1f} ms  (goal <= {REFUSAL_GOAL_RATIO:g} x)  {verdict(ok)}"
    )
    server.assert_alive()


# Reporting -----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(config: Config, real: TargetResults, baseline: TargetResults) -> None:
    print(
        f"\nResults: medians of {config.rounds} rounds x {config.seconds} s, "
        f"wrk -t{config.threads} -c{config.connections}, {config.workers} {config.server} workers"
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
    p99 = real.median("p99_ms") / baseline.median("p99_ms")
    print(f"p99 real/baseline:        {p99:.2f}  (goal < {P99_GOAL:g})  {verdict(p99 < P99_GOAL)}")
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


def ops_section(config: Config) -> None:
    """The ops console's numbers (``tests/bench/ops.py``): ranking and allocating 50
    accounts from 100,000 and from 100, and the queue page with 10 and 10,000 requests."""
    env = {**server_env(config), "DEBUG": "false"}
    manage(env, "migrate", "--noinput", "-v0")
    result = subprocess.run([sys.executable, "-m", "tests.bench.ops"], cwd=ROOT, env=env)
    if result.returncode != 0:
        raise BenchError("the ops console section failed")


def ops_main() -> int:
    config = Config.from_env()
    try:
        ensure_database(config.database_url)
        ops_section(config)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1
    return 0


def finance_main() -> int:
    """The finance console's section (``tests.bench.finance``), in its own process."""
    return subprocess.call([sys.executable, "-m", "tests.bench.finance"], cwd=ROOT)


def wallet_main() -> int:
    """``GET /v1/wallet`` with 5,000 leases against ``/v1/whoami`` (``tests.bench.wallet``)."""
    return subprocess.call([sys.executable, "-m", "tests.bench.wallet"], cwd=ROOT)


def intake_main() -> int:
    from tests.bench import intake

    return intake.main()


def slow_clients_main() -> int:
    from tests.bench import slow_clients

    return slow_clients.main()


def webhooks_main() -> int:
    """Deliveries per second and commit-to-receiver latency (``tests.bench.webhooks``)."""
    return subprocess.call([sys.executable, "-m", "tests.bench.webhooks"], cwd=ROOT)


def probes_main() -> int:
    """``/healthz``, ``/readyz`` and a ``/metrics`` scrape, in process (``tests.bench.probes``)."""
    return subprocess.call([sys.executable, "-m", "tests.bench.probes"], cwd=ROOT)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def http_main() -> int:
    """The partner API: refusals of hostile bodies, then wrk against the POST."""
    signal.signal(signal.SIGTERM, _interrupt)  # a plain `kill` cleans up like Ctrl-C
    server = None
    keep_log = False
    try:
        config = Config.from_env()
        ensure_database(config.database_url)
        env = server_env(config)
        manage(env, "migrate", "--noinput", "-v0")
        partner = create_partner(env)
        server = Server(env, config.workers, config.server)
        print(
            f"server {server.base_url}, organization {partner.organization_id}, "
            f"project {partner.project_id}",
            flush=True,
        )
        server.start()
        refusals(server, partner)
        if not config.refusals_only:
            bench(config, ensure_wrk(), server, partner)
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


# In the order a full run takes them.
SECTIONS = {
    "http": http_main,
    "ops": ops_main,
    "intake": intake_main,
    "renewals": renewals.main,
    "finance": finance_main,
    "wallet": wallet_main,
    "slow-clients": slow_clients_main,
    "webhooks": webhooks_main,
    "probes": probes_main,
}


def main() -> int:
    """``make bench`` runs every section; ``python -m tests.bench.run SECTION`` (or
    ``BENCH_SECTION=SECTION make bench``) runs one: http, ops, intake, renewals, finance,
    wallet, slow-clients, webhooks, probes."""
    named = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_SECTION", "")
    if os.environ.get("BENCH_REFUSALS_ONLY", "") not in ("", "0"):
        named = "http"
    if named and named not in SECTIONS:
        print(f"Unknown section {named!r}: choose one of {', '.join(SECTIONS)}.", file=sys.stderr)
        return 2
    for name in [named] if named else list(SECTIONS):
        print(f"\n== {name}", flush=True)
        status = SECTIONS[name]()
        if status != 0:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
