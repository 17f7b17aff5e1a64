"""Webhook deliveries as Prometheus gauges: two aggregate queries per scrape."""

from datetime import timedelta

from django.db.models import Count, Min, Q
from django.utils import timezone

from layers_ops.ops.metrics import gauge

from .models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint


def collect():
    now = timezone.now()
    deliveries = WebhookDelivery.objects.filter(
        Q(status=DeliveryStatus.PENDING)
        | Q(status=DeliveryStatus.FAILED, created_at__gte=now - timedelta(days=1))
    ).aggregate(
        pending=Count("pk", filter=Q(status=DeliveryStatus.PENDING)),
        due=Count("pk", filter=Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)),
        failed=Count("pk", filter=Q(status=DeliveryStatus.FAILED)),
        oldest=Min("created_at", filter=Q(status=DeliveryStatus.PENDING)),
    )
    endpoints = WebhookEndpoint.objects.aggregate(
        auto_paused=Count("pk", filter=Q(status=EndpointStatus.AUTO_PAUSED)),
        paused=Count("pk", filter=Q(status=EndpointStatus.PAUSED)),
    )
    yield gauge(
        "layers_webhook_deliveries_pending",
        "Deliveries not yet received: retrying, due now, or waiting for a paused endpoint.",
        deliveries["pending"],
    )
    yield gauge(
        "layers_webhook_deliveries_due",
        "Pending deliveries whose next attempt is due now (a worker should be sending them).",
        deliveries["due"],
    )
    yield gauge(
        "layers_webhook_deliveries_failed_24h",
        "Deliveries failed for good in the last 24 hours (retries spent, or refused).",
        deliveries["failed"],
    )
    oldest = deliveries["oldest"]
    yield gauge(
        "layers_webhook_oldest_pending_age_seconds",
        "Age of the oldest delivery not yet received (0 when none).",
        (now - oldest).total_seconds() if oldest else 0,
    )
    yield gauge(
        "layers_webhook_endpoints_paused",
        "Endpoints not receiving: paused by the partner or ops, or auto-paused after failures.",
        labels=["status"],
        samples=[(("paused",), endpoints["paused"]), (("auto_paused",), endpoints["auto_paused"])],
    )
