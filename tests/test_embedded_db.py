"""Without DATABASE_URL a checkout runs on its own PostgreSQL: one server per data folder,
shared by every process that uses it, stopped when the last of them exits.

Each test drives real processes on a data folder of its own, never the checkout's
``.data/pg`` (which this very run may be using).
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest

from layers_ops import embedded_db

ROOT = Path(__file__).resolve().parent.parent

# A process using the folder's server: it reports its DATABASE_URL and the server's pid,
# then holds on until told to exit (a line on stdin) or killed.
USER = """
import sys
from pathlib import Path

from layers_ops import embedded_db

embedded_db.DATA_DIR = Path(sys.argv[1])
url = embedded_db.ensure_database_url()
pid = (embedded_db.DATA_DIR / "postmaster.pid").read_text().split()[0]
print(url, pid, flush=True)
if sys.argv[2:] == ["hold"]:
    sys.stdin.readline()
"""


class User:
    def __init__(self, data_dir: Path, *, hold: bool):
        env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", USER, str(data_dir), *(["hold"] if hold else [])],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def started(self) -> tuple[str, int]:
        line = self.process.stdout.readline()
        if not line:
            pytest.fail(f"no server: {self.process.communicate(timeout=30)[1]}")
        url, pid = line.split()
        return url, int(pid)

    def exit(self) -> None:
        self.process.communicate("\n", timeout=60)
        assert self.process.returncode == 0


def running(pid: int) -> bool:
    """Alive: an exited server nobody reaped (a container's init may not) is a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "pg"
    yield folder
    saved = embedded_db.DATA_DIR
    embedded_db.DATA_DIR = folder
    try:
        embedded_db.stop()  # whatever a failed test left running
    finally:
        embedded_db.DATA_DIR = saved


def test_a_second_process_reuses_the_server_and_the_last_one_out_stops_it(data_dir):
    first, second = User(data_dir, hold=True), User(data_dir, hold=True)
    (url, pid), (other_url, other_pid) = first.started(), second.started()

    assert (other_url, other_pid) == (url, pid)  # started at once: still one server
    assert url == f"postgres://postgres@/layers?host={data_dir}"
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW server_version").fetchone()[0].startswith("18.")
        assert conn.execute("SHOW listen_addresses").fetchone()[0] == ""  # socket only

    first.exit()
    assert running(pid)  # the second still uses it
    second.exit()
    assert not running(pid)
    assert not (data_dir / "postmaster.pid").exists()


def test_a_killed_user_leaves_the_server_reusable_and_stopped_by_the_next(data_dir):
    killed = User(data_dir, hold=True)
    _, pid = killed.started()
    killed.process.send_signal(signal.SIGKILL)
    killed.process.wait(timeout=30)
    assert running(pid)  # nobody could stop it

    later = User(data_dir, hold=False)
    assert later.started()[1] == pid  # reused, not a second server on the folder
    later.exit()
    assert not running(pid)  # the dead user was forgotten; the last live one stopped it


def test_a_set_database_url_wins_and_starts_nothing(data_dir, monkeypatch):
    monkeypatch.setattr(embedded_db, "DATA_DIR", data_dir)
    monkeypatch.setenv("DATABASE_URL", "postgres://app@db.internal:5432/layers")

    assert embedded_db.ensure_database_url() == "postgres://app@db.internal:5432/layers"
    assert not data_dir.exists()
