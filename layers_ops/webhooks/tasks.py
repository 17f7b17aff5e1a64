"""The ``webhooks`` job queue: one job per delivery attempt."""

from procrastinate.contrib.django import app

from layers_ops.jobs.engine import QUEUE_WEBHOOKS


@app.task(queue=QUEUE_WEBHOOKS)
def delivery_send(delivery_id: str) -> None:
    """One attempt at ``delivery_id`` (``delivery.delivery_attempt``)."""
    from .delivery import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)
