"""How jobs are queued and how the worker runs them.

``defer(task, **kwargs)`` queues a job on Django's own connection, so it is part of the
caller's transaction: no event without its change, no change without its event. It adds
the current web request's id (``X-Request-Id``) to the job; the worker takes it back out
before the task runs and puts it on every log line the job writes, so one id finds a
request's whole story across web and worker processes.

``on_app_ready`` (``PROCRASTINATE_ON_APP_READY``) sets every worker's defaults: finished
jobs are kept (``delete_jobs="never"``: deleting them would let a periodic run fire twice,
procrastinate #1495; ``jobs_prune`` deletes old ones on a schedule) and each job runs
inside ``job_run`` (``job_run_async`` for async tasks).
"""

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime

from procrastinate import manager
from procrastinate.contrib.django.django_connector import DjangoConnector

from layers_ops.ops.trace import request_id_var

logger = logging.getLogger("layers_ops.job")

QUEUE_WEBHOOKS = "webhooks"
QUEUE_MAINTENANCE = "maintenance"
QUEUES = (QUEUE_WEBHOOKS, QUEUE_MAINTENANCE)

# What asyncio's default thread pool holds (concurrent.futures' rule).
DEFAULT_THREADS = min(32, (os.cpu_count() or 1) + 4)

# The reserved task argument that carries the request id from the web into the job.
REQUEST_ID_ARG = "request_id"


# Jobs are written through Django's own connection, so inside the caller's transaction,
# in a web process or a job alike: in a worker, procrastinate's app runs on a pool of its
# own, and ``task.defer()`` there would commit the job apart from the change.
_jobs_in_transaction = manager.JobManager(DjangoConnector())


def defer(task, *, schedule_at: datetime | None = None, **kwargs) -> int:
    """Queue ``task`` with ``kwargs`` in the current transaction (to run at
    ``schedule_at``, or now); returns the job id."""
    request_id = request_id_var.get()
    if request_id:
        kwargs[REQUEST_ID_ARG] = request_id
    job = task.configure(schedule_at=schedule_at).make_new_job(**kwargs)
    return _jobs_in_transaction.defer_job(job).id


@contextmanager
def _job_story(job):
    """The request id restored for the job's log lines, and one line with its outcome."""
    request_id = job.task_kwargs.pop(REQUEST_ID_ARG, None)
    token = request_id_var.set(request_id)
    started = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "succeeded"
    except Exception as exc:
        outcome = f"failed ({type(exc).__name__})"
        raise
    finally:
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        fields = {
            "jobId": job.id,
            "task": job.task_name,
            "queue": job.queue,
            "attempt": job.attempts + 1,
            "outcome": "succeeded" if outcome == "succeeded" else "failed",
            "durationMs": duration_ms,
        }
        if request_id:
            fields["requestId"] = request_id
        logger.log(
            logging.INFO if outcome == "succeeded" else logging.WARNING,
            "job %s #%s (attempt %s) %s in %.1f ms",
            job.task_name,
            job.id,
            fields["attempt"],
            outcome,
            duration_ms,
            extra={"fields": fields},
        )
        request_id_var.reset(token)


def job_run(call_next, context, worker):
    """Wraps every sync job (procrastinate's Django app already checks the thread's
    database connections around it, as Django does around a request)."""
    with _job_story(context.job):
        return call_next()


async def job_run_async(call_next, context, worker):
    """Wraps every async job (the engine's own upkeep)."""
    with _job_story(context.job):
        return await call_next()


_sized_loops: set[int] = set()


async def threads_sized(call_next, context, worker):
    """Gives the worker's event loop as many threads as jobs it runs at once. Sync jobs
    run in the loop's default thread pool, which asyncio sizes by the CPU count (six on
    two cores), so ``--concurrency 16`` would otherwise still run six at a time: webhook
    deliveries, which mostly wait on the network, went from 83 to 106 deliveries/s with one
    worker at ``--concurrency 16`` (``python -m tests.bench.run webhooks``, 2 cores).
    Each thread holds its own database connection."""
    loop = asyncio.get_running_loop()
    if id(loop) not in _sized_loops:
        _sized_loops.add(id(loop))
        if worker.concurrency > DEFAULT_THREADS:
            loop.set_default_executor(
                ThreadPoolExecutor(max_workers=worker.concurrency, thread_name_prefix="job")
            )
    return await call_next()


def on_app_ready(app) -> None:
    app.worker_defaults.setdefault("delete_jobs", "never")
    middleware = app.worker_defaults.setdefault("task_middleware", [])
    middleware += [job_run, job_run_async]  # inside the library's connection cleanup
    app.worker_defaults.setdefault("worker_middleware", []).append(threads_sized)
