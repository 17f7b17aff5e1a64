"""The job queue as Prometheus gauges: two aggregate queries per scrape, whatever the
number of jobs (waiting and running jobs are few; the oldest waiting one is found
through procrastinate's own index on unfinished jobs)."""

from django.db import connection

from layers_ops.ops.metrics import gauge

from .engine import QUEUES

# A worker that has not beaten its heart for this long is gone (procrastinate's own
# stalled-worker timeout).
WORKER_ALIVE_SECONDS = 30

_QUEUE_SQL = """
SELECT j.queue_name,
       count(*) FILTER (WHERE j.status = 'todo' AND (j.scheduled_at IS NULL
                                                     OR j.scheduled_at <= now())),
       count(*) FILTER (WHERE j.status = 'todo' AND j.scheduled_at > now()),
       count(*) FILTER (WHERE j.status = 'doing'),
       coalesce(extract(epoch FROM now() - min(greatest(j.scheduled_at, e.at))
                        FILTER (WHERE j.status = 'todo' AND (j.scheduled_at IS NULL
                                                             OR j.scheduled_at <= now()))), 0)
  FROM procrastinate_jobs j
  LEFT JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred'
 WHERE j.status IN ('todo', 'doing')
 GROUP BY j.queue_name
"""

_WORKERS_SQL = """
SELECT (SELECT count(*) FROM procrastinate_workers
         WHERE last_heartbeat > now() - make_interval(secs => %s)),
       (SELECT count(*) FROM procrastinate_jobs WHERE status = 'failed')
"""


def collect():
    with connection.cursor() as cursor:
        cursor.execute(_QUEUE_SQL)
        rows = {queue: row for queue, *row in cursor.fetchall()}
        cursor.execute(_WORKERS_SQL, [WORKER_ALIVE_SECONDS])
        workers, failed = cursor.fetchone()
    queues = sorted(set(QUEUES) | set(rows))
    zero = (0, 0, 0, 0)
    yield gauge(
        "layers_jobs_waiting",
        "Jobs due to run and not yet picked up by a worker (queue depth).",
        labels=["queue"],
        samples=[((q,), rows.get(q, zero)[0]) for q in queues],
    )
    yield gauge(
        "layers_jobs_scheduled",
        "Jobs waiting for a later time (webhook retries, sandbox fulfilments).",
        labels=["queue"],
        samples=[((q,), rows.get(q, zero)[1]) for q in queues],
    )
    yield gauge(
        "layers_jobs_running",
        "Jobs a worker is running now.",
        labels=["queue"],
        samples=[((q,), rows.get(q, zero)[2]) for q in queues],
    )
    yield gauge(
        "layers_jobs_oldest_waiting_age_seconds",
        "How long the oldest job due to run has waited for a worker.",
        labels=["queue"],
        samples=[((q,), float(rows.get(q, zero)[3])) for q in queues],
    )
    yield gauge(
        "layers_job_workers",
        f"Workers whose heartbeat is under {WORKER_ALIVE_SECONDS} s old.",
        workers,
    )
    yield gauge(
        "layers_jobs_failed",
        "Jobs that failed for good and are still kept (JOBS_RETENTION_DAYS).",
        failed,
    )
