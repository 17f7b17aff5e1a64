"""The server as ``make serve`` starts it: slow clients cannot stall the service, and what
the server refuses itself is still the JSON envelope."""

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

from tests.conftest import make_partner

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "layers_ops" / "gunicorn.conf.py"


def serve_command(**variables) -> list[str]:
    """The gunicorn command of ``make serve``, read from the Makefile."""
    makefile = (ROOT / "Makefile").read_text()
    line = re.search(r"^\t(?:\$\(WITH_DB\) )?\$\(BIN\)/gunicorn (.*)$", makefile, re.M).group(1)
    for name, value in variables.items():
        line = line.replace(f"$({name})", value)
    return [str(Path(sys.executable).parent / "gunicorn"), *line.split()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url() -> str:
    """The test run's own database, on the server the run uses (embedded or not), so a test
    can hand the server a key."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return parts._replace(path="/" + connection.settings_dict["NAME"]).geturl()


@contextmanager
def running_server(tmp_path, **env_overrides):
    port = free_port()
    # One worker: with sync workers a single stalled client would already hold it.
    command = serve_command(HOST="127.0.0.1", PORT=str(port), WORKERS="1")
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "layers_ops.settings",
        "DATABASE_URL": database_url(),
        **env_overrides,
    }
    env.pop("REDIS_URL", None)
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                get(port, "/v1/whoami", timeout=1)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=40)


@pytest.fixture(scope="module")
def server(tmp_path_factory, django_db_setup):
    with running_server(tmp_path_factory.mktemp("serve")) as port:
        yield port


def get(port, path, *, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_serve_uses_the_shared_gunicorn_config():
    assert f"-c {CONFIG.relative_to(ROOT)}" in " ".join(serve_command())


def test_two_stalled_clients_do_not_delay_other_requests(server):
    # One never finishes its headers; one promises a body it never sends.
    stalled = [socket.create_connection(("127.0.0.1", server)) for _ in range(2)]
    stalled[0].sendall(b"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
    stalled[1].sendall(
        b"POST /v1/nope HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n{"
    )
    try:
        time.sleep(0.3)  # both are now inside the one worker
        started = time.monotonic()
        status, _, body = get(server, "/v1/whoami", timeout=10)
        elapsed = time.monotonic() - started
    finally:
        for sock in stalled:
            sock.close()

    assert status == 401
    assert json.loads(body)["error"]["code"] == "UNAUTHENTICATED"
    assert elapsed < 1.0, f"answered after {elapsed:.1f} s"


def test_a_chunked_body_through_gunicorn_is_411_in_the_envelope(server):
    conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
    body = iter([b'{"projectId": "prj_x", ', b'"count": 1}'])
    conn.request(
        "POST",
        "/v1/projects/prj_x/leased-accounts/request",
        body=body,
        headers={"Content-Type": "application/json", "Authorization": "Bearer lp_live_x_y"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    error = json.loads(response.read())["error"]
    conn.close()

    assert response.status == 411
    assert error["code"] == "LENGTH_REQUIRED"
    assert response.getheader("X-Request-Id") == error["requestId"]


def assert_envelope(status, headers, body, expected_status, code):
    assert status == expected_status, body[:300]
    assert headers["content-type"].lower() == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == code
    assert error["requestId"].startswith("req_")
    assert headers["x-request-id"] == error["requestId"]
    return error


def raw_exchange(port, request: bytes, *, timeout=5.0):
    """Send ``request`` as is; the answer's status, lower-cased headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with suppress(OSError):  # refused part-way through: the answer is still there
            sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value for name, value in (line.split(": ", 1) for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def test_an_over_long_request_line_is_414_in_the_envelope(server):
    path = "/v1/whoami?q=" + "x" * 5_000
    error = assert_envelope(
        *raw_exchange(server, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()),
        414,
        "URI_TOO_LONG",
    )
    assert "4094" in error["message"]


@pytest.mark.parametrize(
    "headers",
    [
        "X-Big: " + "h" * 9_000 + "\r\n",  # one field over 8,190 bytes
        "".join(f"X-Field-{n}: {n}\r\n" for n in range(101)),  # 101 fields
        "".join(f"X-Wide-{n}: {'w' * 8_000}\r\n" for n in range(20)),  # 160 KB in all
    ],
    ids=["one-field-too-large", "too-many-fields", "whole-head-too-large"],
)
def test_over_large_headers_are_431_in_the_envelope(server, headers):
    request = f"GET /v1/whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode()
    assert_envelope(*raw_exchange(server, request), 431, "HEADERS_TOO_LARGE")


def test_a_body_over_the_limit_is_413_before_it_is_sent(server):
    request = (
        b"POST /v1/projects/prj_x/leased-accounts/request HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 10000000\r\n\r\n{"
    )
    started = time.monotonic()
    assert_envelope(*raw_exchange(server, request), 413, "PAYLOAD_TOO_LARGE")
    assert time.monotonic() - started < 1.0


def test_garbage_instead_of_http_is_400_in_the_envelope(server):
    assert_envelope(*raw_exchange(server, b"\x16\x03\x01 hello\r\n\r\n"), 400, "BAD_REQUEST")


class SlowClients:
    """``slow_bodies`` sockets that promise 100 kB and send a byte every 0.5 s, and
    ``silent`` ones that send one byte and stop; all held open until ``close()``."""

    def __init__(self, port, *, slow_bodies, silent):
        self.slow = []
        for _ in range(slow_bodies):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(
                b"POST /v1/projects/prj_x/leased-accounts/request HTTP/1.1\r\n"
                b"Host: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n{"
            )
            self.slow.append(sock)
        self.silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(silent)]
        for sock in self.silent:
            sock.sendall(b"G")
        self.started = time.monotonic()
        self.stop = threading.Event()
        self.trickler = threading.Thread(target=self._trickle, daemon=True)
        self.trickler.start()

    def _trickle(self):
        while not self.stop.wait(0.5):
            for sock in self.slow:
                with suppress(OSError):
                    sock.sendall(b" ")

    def close(self):
        self.stop.set()
        self.trickler.join()
        for sock in self.slow + self.silent:
            sock.close()


@pytest.mark.django_db(transaction=True)
def test_whoami_answers_at_once_while_80_slow_clients_hold_connections(server):
    token = make_partner().token
    attack = SlowClients(server, slow_bodies=64, silent=16)
    try:
        time.sleep(0.5)  # every socket is connected and part-way through its request
        timings = []
        for _ in range(5):
            conn = http.client.HTTPConnection("127.0.0.1", server, timeout=5)
            started = time.monotonic()
            conn.request("GET", "/v1/whoami", headers={"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            body = json.loads(response.read())
            timings.append(time.monotonic() - started)
            conn.close()
            assert response.status == 200, body
            assert body["apiKeyId"].startswith("key_")
    finally:
        attack.close()

    assert max(timings) < 1.0, f"whoami took {', '.join(f'{t:.2f}' for t in timings)} s"


def whoami_status(port, token) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/v1/whoami", headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.mark.django_db(transaction=True)
def test_requests_still_succeed_after_the_database_drops_the_servers_connections(server):
    token = make_partner().token
    assert [whoami_status(server, token) for _ in range(4)] == [200] * 4  # pool filled

    with connection.cursor() as cursor:  # as a database restart or failover would
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )

    assert [whoami_status(server, token) for _ in range(4)] == [200] * 4


def test_a_client_too_slow_with_its_headers_or_body_is_cut_off_with_408(tmp_path, django_db_setup):
    timeouts = {"SERVE_HEADER_TIMEOUT": "1", "SERVE_BODY_TIMEOUT": "1"}
    with running_server(tmp_path, **timeouts) as port:
        attack = SlowClients(port, slow_bodies=1, silent=1)
        try:
            answers = []
            for sock in attack.slow + attack.silent:
                sock.settimeout(10)
                answers.append(sock.recv(65536))
            elapsed = time.monotonic() - attack.started
        finally:
            attack.close()

    for answer in answers:
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert json.loads(body)["error"]["code"] == "REQUEST_TIMEOUT"
    # 1 s for the head; 1 s plus 100 kB at 50 kB/s (3 s in all) for the body.
    assert elapsed < 6, f"cut off after {elapsed:.1f} s"
