"""The job engine: jobs belong to the transaction that defers them, a worker runs each
once with one log line that carries the web request's id, and the periodic work is
registered and safe when two workers fire it."""

import asyncio
import json
import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import transaction
from procrastinate import manager
from procrastinate.contrib.django import app

from layers_ops.api.tasks import idempotency_keys_purge_scheduled
from layers_ops.jobs.engine import defer
from layers_ops.ops.logs import JsonFormatter
from layers_ops.ops.trace import request_id_var
from leasing.models import RenewalRun
from leasing.tasks import leases_renew_scheduled
from tests.jobs.worker import jobs, jobs_run

pytestmark = pytest.mark.django_db(transaction=True)

PURGE = idempotency_keys_purge_scheduled.name


def test_a_rolled_back_change_leaves_no_job_and_a_committed_one_leaves_one():
    with pytest.raises(RuntimeError), transaction.atomic():
        defer(idempotency_keys_purge_scheduled, timestamp=1)
        raise RuntimeError("the change failed")
    assert jobs(task_name=PURGE) == []
    with transaction.atomic():
        defer(idempotency_keys_purge_scheduled, timestamp=2)
    assert [job["args"] for job in jobs(task_name=PURGE)] == [{"timestamp": 2}]


def test_the_worker_runs_a_job_once_and_its_log_line_carries_the_request_id(caplog):
    token = request_id_var.set("req_01TESTREQUESTID0000000000")
    try:
        defer(idempotency_keys_purge_scheduled, timestamp=3)
    finally:
        request_id_var.reset(token)
    (queued,) = jobs(task_name=PURGE)
    assert queued["args"]["request_id"] == "req_01TESTREQUESTID0000000000"

    with caplog.at_level(logging.INFO, logger="layers_ops.job"):
        jobs_run(queues=["maintenance"])
        jobs_run(queues=["maintenance"])  # a second worker finds nothing left to run

    assert [job["status"] for job in jobs(task_name=PURGE)] == ["succeeded"]
    lines = [r for r in caplog.records if r.name == "layers_ops.job" and PURGE in r.getMessage()]
    assert len(lines) == 1
    logged = json.loads(JsonFormatter().format(lines[0]))
    assert logged["requestId"] == "req_01TESTREQUESTID0000000000"
    assert logged["jobId"] == queued["id"]
    assert logged["outcome"] == "succeeded"
    assert logged["attempt"] == 1
    assert logged["task"] == PURGE


def test_every_scheduled_job_is_registered_on_the_maintenance_queue():
    periodic = {
        task.task.name: (task.cron, task.task.queue)
        for task in app.periodic_registry.periodic_tasks.values()
    }
    assert periodic == {
        "leasing.tasks.leases_renew_scheduled": ("*/15 * * * *", "maintenance"),
        "leasing.tasks.intake_uploads_purge_scheduled": ("*/15 * * * *", "maintenance"),
        "layers_ops.api.tasks.idempotency_keys_purge_scheduled": ("7 * * * *", "maintenance"),
        "layers_ops.staff.tasks.form_tokens_purge_scheduled": ("37 * * * *", "maintenance"),
        "layers_ops.jobs.tasks.jobs_stalled_retry": ("*/5 * * * *", "maintenance"),
        "layers_ops.jobs.tasks.jobs_prune": ("17 * * * *", "maintenance"),
        "billing.tasks.ledger_verify_scheduled": ("30 11 * * *", "maintenance"),
        "layers_ops.webhooks.tasks.deliveries_overdue_requeue": ("*/5 * * * *", "maintenance"),
    }
    # None retries: a failed periodic run is simply run again at its next time.
    for task in app.periodic_registry.periodic_tasks.values():
        assert task.task.retry_strategy is None


def test_two_workers_firing_the_same_renewal_time_queue_one_job():
    """Every worker's scheduler defers each periodic task at each of its times; the
    engine keeps one job per task and time."""
    timestamp = int(datetime(2026, 12, 1, 12, 15, tzinfo=UTC).timestamp())

    def fire():  # what one worker's scheduler does at that time, on its own connection
        async def scheduler_tick():
            connector = app.connector.get_worker_connector()
            await connector.open_async()
            try:
                await manager.JobManager(connector).defer_periodic_job(
                    job=leases_renew_scheduled.configure(task_kwargs={"timestamp": timestamp}).job,
                    periodic_id="leases_renew",
                    defer_timestamp=timestamp,
                )
            finally:
                await connector.close_async()

        asyncio.run(scheduler_tick())

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(jobs(task_name=leases_renew_scheduled.name)) == 1


def test_a_scheduled_renewal_run_is_recorded():
    assert not RenewalRun.objects.exists()
    with transaction.atomic():
        leases_renew_scheduled.defer(timestamp=4)
    jobs_run(queues=["maintenance"])
    run = RenewalRun.objects.get()
    assert run.trigger == "schedule"
    assert run.finished_at - run.started_at < timedelta(minutes=1)


def test_the_nightly_reconciliation_is_recorded():
    from billing.models import ReconciliationRun
    from billing.tasks import ledger_verify_scheduled

    with transaction.atomic():
        ledger_verify_scheduled.defer(timestamp=5)
    jobs_run(queues=["maintenance"])
    run = ReconciliationRun.objects.get()
    assert run.source == "schedule"
