from django.db import models

from layers_ops.partners.models import Organization


class IdempotencyKey(models.Model):
    """The first successful answer to a POST, replayed for the same key and body for 24 h.

    The unique (organization, key) pair is the claim: two concurrent requests with one
    key cannot both commit, so exactly one of them queues anything.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    key = models.UUIDField()
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of method, path and body.")
    response_status = models.PositiveSmallIntegerField()
    response_content = models.TextField(help_text="The answer's body exactly as first sent.")
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "key"], name="idempotency_key_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.organization_id})"


class RateLimitWindow(models.Model):
    """Per-second request counts of one API key and endpoint class, when Redis is not set.

    The row is locked while a request is admitted, so every worker process shares it.
    """

    bucket = models.CharField(max_length=80, unique=True)
    counts = models.JSONField(default=dict)

    def __str__(self) -> str:
        return self.bucket
