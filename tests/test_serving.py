"""gunicorn as ``make serve`` starts it: slow clients cannot stall the service."""

import http.client
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "layers_ops" / "gunicorn.conf.py"


def serve_command(**variables) -> list[str]:
    """The gunicorn command of ``make serve``, read from the Makefile."""
    makefile = (ROOT / "Makefile").read_text()
    line = re.search(r"^\t\$\(BIN\)/gunicorn (.*)$", makefile, re.MULTILINE).group(1)
    for name, value in variables.items():
        line = line.replace(f"$({name})", value)
    return [str(Path(sys.executable).parent / "gunicorn"), *line.split()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    # One worker: with sync workers a single stalled client would already hold it.
    command = serve_command(HOST="127.0.0.1", PORT=str(port), WORKERS="1")
    env = {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "layers_ops.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('serve') / 'db.sqlite3'}",
    }
    env.pop("REDIS_URL", None)
    log = tmp_path_factory.mktemp("serve-log") / "gunicorn.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
                time.sleep(0.1)
        yield port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=40)


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
