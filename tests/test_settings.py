"""Production settings refuse unsafe configuration; the deploy check stays clean."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def manage(*args, **env):
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
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
