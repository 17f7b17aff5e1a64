"""Production settings refuse unsafe configuration; the deploy check stays clean."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# A checkout's own .env (make run writes one) never reaches these runs unless a test names
# a file of its own.
NO_DOT_ENV = str(ROOT / ".no-such-dot-env")


def clean_environment(**env):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "SECRET_KEY",
            "DEBUG",
            "DJANGO_SETTINGS_MODULE",
            "DJANGO_READ_DOT_ENV",
            "DJANGO_DOT_ENV_FILE",
        }
    }
    environment["DJANGO_DOT_ENV_FILE"] = NO_DOT_ENV
    environment.update(env)
    return environment


def manage(*args, **env):
    return run_python("manage.py", *args, **env)


def run_python(*args, **env):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", DEBUG="false")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("weak", ["short", "django-insecure-" + "x" * 60, "ab" * 40])
def test_production_refuses_a_weak_secret_key(weak):
    result = manage("check", DEBUG="false", SECRET_KEY=weak)

    assert result.returncode != 0
    assert "not a real secret" in result.stderr


def test_debug_runs_without_a_secret_key():
    assert manage("check", DEBUG="true").returncode == 0


def test_deploy_check_is_clean_apart_from_proxy_https_settings():
    result = manage("check", "--deploy", DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50))
    output = result.stdout + result.stderr

    assert result.returncode == 0, output
    # HSTS (W004) and the HTTPS redirect (W008) belong to the TLS-terminating proxy.
    assert "security.W004" in output and "security.W008" in output
    others = [
        line
        for line in output.splitlines()
        if ": (" in line and "security.W004" not in line and "security.W008" not in line
    ]
    assert others == []


def test_a_database_url_that_is_not_postgresql_is_refused():
    result = manage("check", DEBUG="true", DATABASE_URL="sqlite:///db.sqlite3")

    assert result.returncode != 0
    assert "DATABASE_URL must name a PostgreSQL database" in result.stderr


def test_the_wsgi_app_without_database_url_says_so_rather_than_start_a_database():
    environment = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    result = subprocess.run(
        [sys.executable, "-c", "import layers_ops.wsgi"],
        cwd=ROOT,
        env={**environment, "DEBUG": "true"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr


# The development .env (layers_ops/dotenv.py) ------------------------------------------------

SHOW_SETTINGS = "from django.conf import settings; print(settings.DEBUG, settings.SECRET_KEY)"


def write_dot_env(path):
    return run_python("-m", "layers_ops.dotenv", DJANGO_DOT_ENV_FILE=str(path))


def test_make_runs_dot_env_has_debug_and_a_generated_secret_key(tmp_path):
    path = tmp_path / ".env"

    assert write_dot_env(path).returncode == 0

    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    assert lines[0] == "DEBUG=true"
    name, _, secret = lines[1].partition("=")
    assert name == "SECRET_KEY" and len(secret) >= 50
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_writing_dot_env_again_keeps_what_is_there(tmp_path):
    path = tmp_path / ".env"
    path.write_text("DEBUG=true\nREDIS_URL=redis://127.0.0.1:6379/3\n")
    write_dot_env(path)
    first = path.read_text()

    write_dot_env(path)

    assert path.read_text() == first
    assert first.startswith("DEBUG=true\nREDIS_URL=redis://127.0.0.1:6379/3\nSECRET_KEY=")


def test_manage_py_commands_work_after_make_run_wrote_dot_env(tmp_path):
    path = tmp_path / ".env"
    write_dot_env(path)
    secret = path.read_text().split("SECRET_KEY=")[1].strip()

    result = manage("shell", "-v", "0", "-c", SHOW_SETTINGS, DJANGO_DOT_ENV_FILE=str(path))

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", secret]


def test_the_environment_wins_over_dot_env(tmp_path):
    path = tmp_path / ".env"
    path.write_text("DEBUG=true\nSECRET_KEY=from-the-file\n")

    result = manage(
        "shell",
        "-v",
        "0",
        "-c",
        SHOW_SETTINGS,
        DJANGO_DOT_ENV_FILE=str(path),
        SECRET_KEY="from-env",
    )

    assert result.stdout.split() == ["True", "from-env"]


def test_a_process_with_debug_off_never_reads_dot_env_unless_told(tmp_path):
    path = tmp_path / ".env"
    write_dot_env(path)

    result = manage("check", DJANGO_DOT_ENV_FILE=str(path), DEBUG="false")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_dot_env_that_does_not_turn_debug_on_is_not_read_unless_told(tmp_path):
    path = tmp_path / ".env"
    path.write_text(f"SECRET_KEY={secrets.token_urlsafe(50)}\n")

    unread = manage("check", DJANGO_DOT_ENV_FILE=str(path))
    told = manage("check", DJANGO_DOT_ENV_FILE=str(path), DJANGO_READ_DOT_ENV="true")

    assert "SECRET_KEY must be set" in unread.stderr
    assert told.returncode == 0, told.stderr


def test_django_read_dot_env_false_keeps_manage_py_from_reading_it(tmp_path):
    path = tmp_path / ".env"
    write_dot_env(path)

    result = manage("check", DJANGO_DOT_ENV_FILE=str(path), DJANGO_READ_DOT_ENV="false")

    assert "SECRET_KEY must be set" in result.stderr


def test_the_web_apps_read_dot_env_only_when_told(tmp_path):
    path = tmp_path / ".env"
    write_dot_env(path)
    load = "import django; django.setup(); " + SHOW_SETTINGS
    where = {"DJANGO_DOT_ENV_FILE": str(path), "DJANGO_SETTINGS_MODULE": "layers_ops.settings"}

    unread = run_python("-c", load, **where)
    told = run_python("-c", load, **where, DJANGO_READ_DOT_ENV="true")

    assert "SECRET_KEY must be set" in unread.stderr
    assert told.returncode == 0, told.stderr
    assert told.stdout.split()[0] == "True"
