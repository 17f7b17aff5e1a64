"""The partner API's periodic upkeep, run by the job engine's workers."""

from procrastinate.contrib.django import app

from layers_ops.jobs.engine import QUEUE_MAINTENANCE

from .idempotency import idempotency_keys_purge


@app.periodic(cron="7 * * * *", periodic_id="idempotency_keys_purge")
@app.task(queue=QUEUE_MAINTENANCE, queueing_lock="idempotency_keys_purge")
def idempotency_keys_purge_scheduled(timestamp: int) -> int:
    """Forgets Idempotency-Keys older than 24 hours, hourly."""
    return idempotency_keys_purge()
