"""The job engine's own upkeep, run by any worker on the ``maintenance`` queue.

Periodic tasks are deferred by every worker but run once per timestamp (procrastinate
keeps a unique row per task and time), and none of them retries: a periodic job that
fails is simply run again at its next time (procrastinate #1543: a retrying periodic job
holding a lock can wedge its queue).
"""

from django.conf import settings
from procrastinate.contrib.django import app

from .engine import QUEUE_MAINTENANCE

FINAL_STATUSES = ["succeeded", "failed", "cancelled", "aborted"]


@app.periodic(cron="*/5 * * * *", periodic_id="jobs_stalled_retry")
@app.task(queue=QUEUE_MAINTENANCE, pass_context=True, queueing_lock="jobs_stalled_retry")
async def jobs_stalled_retry(context, timestamp: int) -> int:
    """Puts back in the queue the jobs left ``doing`` by a worker that died (no heartbeat
    for 30 s): killed mid-job, their job would otherwise wait forever (procrastinate
    #1518). Jobs here are idempotent, so running one again is safe."""
    manager = context.app.job_manager
    stalled = await manager.get_stalled_jobs()
    for job in stalled:
        await manager.retry_job(job)
    return len(stalled)


@app.periodic(cron="17 * * * *", periodic_id="jobs_prune")
@app.task(queue=QUEUE_MAINTENANCE, pass_context=True, queueing_lock="jobs_prune")
async def jobs_prune(context, timestamp: int) -> None:
    """Deletes jobs that finished more than ``JOBS_RETENTION_DAYS`` ago, hourly. Kept
    until then, they are the record ops read in the admin (Procrastinate, Jobs)."""
    await context.app.job_manager.delete_old_jobs(
        nb_hours=settings.JOBS_RETENTION_DAYS * 24,
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )
