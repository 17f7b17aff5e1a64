"""Webhook endpoints, events and deliveries (see the package docstring)."""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q

from layers_ops.ids import prefixed_ulid
from layers_ops.partners.models import Organization, Project


def new_endpoint_id() -> str:
    return prefixed_ulid("whe")


def new_event_id() -> str:
    return prefixed_ulid("evt")


def new_delivery_id() -> str:
    return prefixed_ulid("whd")


class EventType(models.TextChoices):
    # Labelled by their names: that is what partners and ops read everywhere.
    LEASE_REQUEST_ASSIGNED = "lease_request.assigned", "lease_request.assigned"
    LEASE_REQUEST_PARTIAL = "lease_request.partial", "lease_request.partial"
    LEASE_REQUEST_REJECTED = "lease_request.rejected", "lease_request.rejected"
    LEASE_REQUEST_CANCELLED = "lease_request.cancelled", "lease_request.cancelled"
    LEASE_PAST_DUE = "lease.past_due", "lease.past_due"
    LEASE_DISCONNECTED = "lease.disconnected", "lease.disconnected"
    WALLET_LOW_BALANCE = "wallet.low_balance", "wallet.low_balance"
    TEST_PING = "test.ping", "test.ping"


class EndpointStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused (by the partner or ops)"
    AUTO_PAUSED = "auto_paused", "Auto-paused after repeated failures"


class WebhookEndpoint(models.Model):
    """Where a partner wants events. ``secret`` signs every delivery; during a rotation
    ``previous_secret`` signs too, until ``previous_secret_expires_at``."""

    id = models.CharField(primary_key=True, max_length=30, default=new_endpoint_id)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="webhook_endpoints"
    )
    project = models.ForeignKey(
        Project,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="webhook_endpoints",
        help_text="Only this project's events; empty for every project of the organization.",
    )
    url = models.URLField(max_length=2048)
    description = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=16, choices=EndpointStatus.choices, default=EndpointStatus.ACTIVE
    )
    events = ArrayField(models.CharField(max_length=64, choices=EventType.choices))
    metadata = models.JSONField(default=dict, blank=True)
    secret = models.CharField(max_length=80)
    previous_secret = models.CharField(max_length=80, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    consecutive_failure_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("pause_webhookendpoint", "Can pause and resume webhook endpoints")]
        constraints = [
            models.CheckConstraint(
                condition=Q(events__len__gte=1) & Q(events__len__lte=50),
                name="webhook_endpoint_events_1_to_50",
            ),
        ]
        indexes = [models.Index(fields=["organization", "status"], name="whe_org_status")]

    def __str__(self) -> str:
        return f"{self.url} ({self.id})"


class WebhookEvent(models.Model):
    """One thing that happened, as the partner receives it. ``body`` is the exact JSON
    sent (``{id, type, createdAt, data}``, plus ``replayOf`` for a replay), fixed when
    the event is written so every attempt signs the same bytes."""

    id = models.CharField(primary_key=True, max_length=30, default=new_event_id)
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+")
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    type = models.CharField(max_length=64, choices=EventType.choices)
    body = models.TextField()
    replay_of = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event on its way to one endpoint: a job per attempt on the ``webhooks`` queue,
    until the receiver answers 2xx, a 4xx other than 429 refuses it, or the retry
    ladder (``WEBHOOK_RETRY_SCHEDULE``) runs out."""

    id = models.CharField(primary_key=True, max_length=30, default=new_delivery_id)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.ForeignKey(WebhookEvent, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        permissions = [("replay_webhookdelivery", "Can replay webhook deliveries")]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "endpoint"], name="one_delivery_per_event_and_endpoint"
            ),
        ]
        indexes = [
            models.Index(fields=["endpoint", "-created_at"], name="whd_endpoint_created"),
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="whd_pending_next_attempt",
            ),
        ]

    def __str__(self) -> str:
        return self.id


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, how long, what came back (the first kilobyte)."""

    delivery = models.ForeignKey(
        WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(
        max_length=200, blank=True, help_text="Why no answer came: time-out, refused, ..."
    )
    response_excerpt = models.TextField(blank=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_per_number"),
        ]

    def __str__(self) -> str:
        return f"Attempt {self.number}"
