"""A worker whose database connections are cut (a failover, a restart of PostgreSQL)
carries on by itself: no restart, and the next job runs."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection, transaction

from layers_ops.jobs.engine import defer
from layers_ops.webhooks.tasks import delivery_send
from tests.jobs.worker import jobs

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    s = connection.settings_dict
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _wait(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def _succeeded() -> int:
    return len(jobs(task_name=delivery_send.name, status="succeeded"))


def test_a_worker_survives_its_connections_being_cut_and_runs_the_next_job():
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "true",
        "SECRET_KEY": "worker-outage-test-" + "k" * 40,
        "DJANGO_READ_DOT_ENV": "false",
    }
    worker = subprocess.Popen(
        # The webhooks queue only: no periodic job of the maintenance queue runs beside.
        [sys.executable, "manage.py", "procrastinate", "worker", "--queues", "webhooks",
         "--fetch-job-polling-interval", "0.5"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        with transaction.atomic():
            # A delivery that does not exist: the job finds nothing to send and succeeds.
            defer(delivery_send, delivery_id="whd_gone_1")
        assert _wait(lambda: _succeeded() == 1, 30), "the worker never ran the first job"

        with connection.cursor() as cursor:  # every connection but ours: the worker's
            cursor.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            assert cursor.fetchone()[0] >= 1

        with transaction.atomic():
            defer(delivery_send, delivery_id="whd_gone_2")
        assert _wait(lambda: _succeeded() == 2, 30), "the worker did not resume"
        assert worker.poll() is None  # still the same process
    finally:
        worker.terminate()
        worker.wait(timeout=30)
