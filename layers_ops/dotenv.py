"""The development ``.env`` of a checkout: written by ``make run``, read by ``manage.py``.

When the file is read (docs/operations.md, Configuration):

* ``DJANGO_READ_DOT_ENV=true``: every entry point reads it (manage.py, the WSGI and ASGI
  apps), whatever it holds.
* ``DJANGO_READ_DOT_ENV=false``: nothing reads it.
* unset: only ``manage.py`` reads it, and only a development file: one that sets
  ``DEBUG=true`` while the environment does not turn DEBUG off. So a process that runs
  with DEBUG off (production) never reads a ``.env`` unless told to.

Variables already in the environment always win over the file. The file is parsed by
django-environ (``Env.read_env``). ``DJANGO_DOT_ENV_FILE`` names another file than the
checkout's ``.env``.

``python -m layers_ops.dotenv`` writes the file for ``make run``: ``DEBUG=true`` and a
generated ``SECRET_KEY`` when the file has none; lines already there are kept as they are.
"""

import os
import secrets
import sys
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
_TRUE = {"true", "on", "ok", "y", "yes", "1"}


def _is_true(value: str | None) -> bool:
    return value is not None and value.strip().lower() in _TRUE


def dot_env_values(path: Path) -> dict[str, str]:
    """The variables the file sets, as django-environ reads them (nothing applied)."""

    class _Probe(environ.Env):
        ENVIRON: dict[str, str] = {}

    _Probe.read_env(str(path))
    return dict(_Probe.ENVIRON)


def dot_env_path() -> Path:
    return Path(os.environ.get("DJANGO_DOT_ENV_FILE") or BASE_DIR / ".env")


def dot_env_read(*, manage: bool) -> bool:
    """Put the file's variables into ``os.environ`` (without replacing any) when the rule
    above says so; True when it was read."""
    path = dot_env_path()
    flag = os.environ.get("DJANGO_READ_DOT_ENV")
    if (flag is not None and not _is_true(flag)) or not path.is_file():
        return False
    values = dot_env_values(path)
    if flag is None:
        if not manage:
            return False
        debug = os.environ.get("DEBUG", values.get("DEBUG"))
        if not (_is_true(values.get("DEBUG")) and _is_true(debug)):
            return False
    for name, value in values.items():
        os.environ.setdefault(name, value)
    return True


def dot_env_write() -> list[str]:
    """Add ``DEBUG=true`` and a fresh ``SECRET_KEY`` to the file unless it sets them; the
    names added."""
    path = dot_env_path()
    values = dot_env_values(path) if path.is_file() else {}
    added = {}
    if "DEBUG" not in values:
        added["DEBUG"] = "true"
    if not values.get("SECRET_KEY"):
        added["SECRET_KEY"] = secrets.token_urlsafe(48)
    if added:
        text = (
            path.read_text()
            if path.is_file()
            else (
                "# Development settings for this checkout, written by `make run`. Read by\n"
                "# manage.py while DEBUG is true; never used by a server with DEBUG off.\n"
                "# See docs/operations.md for every variable.\n"
            )
        )
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(f"{name}={value}\n" for name, value in added.items())
        path.write_text(text)
        path.chmod(0o600)
    return list(added)


if __name__ == "__main__":
    names = dot_env_write()
    if names:
        print(f"{dot_env_path()}: wrote {', '.join(names)} (development settings)", file=sys.stderr)
