"""``whoami`` latency while slow clients hold connections, on each server configuration.

What it does: migrates the benchmark database, creates an internal-tier partner, and for
each server (``make serve``'s uvicorn workers, then the threaded gthread workers it used
before; ``BENCH_SLOW_SERVERS`` picks, e.g. ``serve``) starts it with ``BENCH_WORKERS``
(4) workers and times ``BENCH_SLOW_PROBES`` (20) sequential ``GET /v1/whoami`` with a
valid key (5 s timeout each), after 20 unmeasured ones:

* quiet:  nothing else connected;
* attack: ``BENCH_SLOW_BODIES`` (64) sockets that each promise a 100 kB body and send one
          byte of it every 3 s, plus ``BENCH_SILENT`` (16) that send one byte and stop;
          none with an API key. Probes start 1 s after the attack is in place.

It prints the median and worst latency of each phase and how many probes timed out.
Nothing here changes the exit status but a server that fails to start or answers a probe
with anything but 200.
"""

import http.client
import os
import socket
import statistics
import threading
import time
from contextlib import contextmanager, suppress

from tests.bench.run import (
    SERVERS,
    BenchError,
    Config,
    Server,
    create_partner,
    ensure_database,
    manage,
    server_env,
)

PROBE_TIMEOUT = 5.0
TRICKLE_SECONDS = 3.0
WARMUP_PROBES = 20


def number(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit():
        raise BenchError(f"{name} must be a whole number, not {raw!r}.")
    return int(raw)


def probe(port: int, token: str) -> float | None:
    """Seconds one whoami took, or None when it timed out."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=PROBE_TIMEOUT)
    started = time.perf_counter()
    try:
        conn.request("GET", "/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
    except TimeoutError:
        return None
    finally:
        conn.close()
    if response.status != 200:
        raise BenchError(f"whoami answered {response.status}")
    return time.perf_counter() - started


@contextmanager
def attack(port: int, slow_bodies: int, silent: int):
    """Slow-body and silent sockets, held (and trickled) until the block ends."""
    slow, quiet = [], []
    stop = threading.Event()

    def trickle():
        while not stop.wait(TRICKLE_SECONDS):
            for sock in slow:
                with suppress(OSError):
                    sock.sendall(b" ")

    try:
        for _ in range(slow_bodies):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(
                b"POST /v1/projects/prj_x/leased-accounts/request HTTP/1.1\r\n"
                b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n{"
            )
            slow.append(sock)
        for _ in range(silent):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"G")
            quiet.append(sock)
        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        time.sleep(1.0)
        yield
    finally:
        stop.set()
        for sock in slow + quiet:
            sock.close()


def phase(label: str, port: int, token: str, probes: int) -> str:
    timings = [probe(port, token) for _ in range(probes)]
    answered = [t * 1000 for t in timings if t is not None]
    timeouts = len(timings) - len(answered)
    median = f"{statistics.median(answered):8.1f}" if answered else f"{'-':>8}"
    worst = f"{max(answered):8.1f}" if answered else f"{'-':>8}"
    return f"{label:28} {median} {worst} {timeouts:>4}/{probes}"


def main() -> int:
    servers = os.environ.get("BENCH_SLOW_SERVERS", ",".join(SERVERS)).split(",")
    server = None
    try:
        config = Config.from_env()
        slow_bodies = number("BENCH_SLOW_BODIES", 64)
        silent = number("BENCH_SILENT", 16)
        probes = number("BENCH_SLOW_PROBES", 20)
        ensure_database(config.database_url)
        env = server_env(config)
        manage(env, "migrate", "--noinput", "-v0")
        token = create_partner(env).api_key
        print(
            f"whoami latency, {probes} sequential probes per phase ({PROBE_TIMEOUT:g} s "
            f"timeout); attack: {slow_bodies} slow bodies (1 byte / {TRICKLE_SECONDS:g} s) "
            f"+ {silent} silent sockets; {config.workers} workers"
        )
        print(f"{'server, phase':28} {'p50 ms':>8} {'max ms':>8} {'timeouts':>9}")
        for kind in servers:
            server = Server(env, config.workers, kind.strip())
            server.start()
            for _ in range(WARMUP_PROBES):  # every worker imports, connects, caches
                probe(server.port, token)
            print(phase(f"{kind}, quiet", server.port, token, probes), flush=True)
            with attack(server.port, slow_bodies, silent):
                print(phase(f"{kind}, under attack", server.port, token, probes), flush=True)
            server.stop()
            server = None
    except BenchError as exc:
        print(f"\nFAILED: {exc}")
        return 1
    finally:
        if server is not None:
            server.stop()
    return 0
