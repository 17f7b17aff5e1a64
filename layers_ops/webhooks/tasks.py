"""The ``webhooks`` job queue (one job per delivery attempt) and the sweep that
requeues deliveries whose job was lost."""

from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from procrastinate.contrib.django import app

from layers_ops.jobs.engine import QUEUE_MAINTENANCE, QUEUE_WEBHOOKS, defer

from .models import DeliveryStatus, EndpointStatus, WebhookDelivery


@app.task(queue=QUEUE_WEBHOOKS)
def delivery_send(delivery_id: str) -> None:
    """One attempt at ``delivery_id`` (``delivery.delivery_attempt``)."""
    from .delivery import delivery_attempt

    delivery_attempt(delivery_id=delivery_id)


# A delivery due this long ago with nothing sent has lost its job (a job that raised, a
# queue emptied by hand): the sweep queues it again. Duplicate jobs are harmless.
OVERDUE = timedelta(minutes=10)


@app.periodic(cron="*/5 * * * *", periodic_id="deliveries_overdue_requeue")
@app.task(queue=QUEUE_MAINTENANCE, queueing_lock="deliveries_overdue_requeue")
def deliveries_overdue_requeue(timestamp: int) -> int:
    """Queues again every pending delivery of an active endpoint that is overdue: due
    more than ten minutes ago, or claimed by an attempt that never reported back."""
    from .delivery import claim_lease

    now = timezone.now()
    with transaction.atomic():
        overdue = list(
            WebhookDelivery.objects.filter(
                status=DeliveryStatus.PENDING, endpoint__status=EndpointStatus.ACTIVE
            )
            .filter(
                Q(next_attempt_at__lt=now - OVERDUE)
                | Q(next_attempt_at__isnull=True, last_attempt_at__lt=now - claim_lease() - OVERDUE)
            )
            .values_list("pk", flat=True)[:1000]
        )
        for delivery_id in overdue:
            defer(delivery_send, delivery_id=delivery_id)
    return len(overdue)
