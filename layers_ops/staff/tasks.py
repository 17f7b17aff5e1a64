"""The staff console's periodic upkeep, run by the job engine's workers."""

from procrastinate.contrib.django import app

from layers_ops.jobs.engine import QUEUE_MAINTENANCE

from .once import once_records_purge


@app.periodic(cron="37 * * * *", periodic_id="form_tokens_purge")
@app.task(queue=QUEUE_MAINTENANCE, queueing_lock="form_tokens_purge")
def form_tokens_purge_scheduled(timestamp: int) -> int:
    """Forgets the one-time tokens of admin forms spent more than a day ago, hourly."""
    return once_records_purge()
