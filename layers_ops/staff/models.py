from axes.models import AccessAttempt
from django.conf import settings
from django.db import models


class SignInEventKind(models.TextChoices):
    SIGNED_IN = "signed_in", "signed in (password)"
    FAILED = "failed", "wrong password"
    LOCKED_OUT = "locked_out", "locked out"
    UNLOCKED = "unlocked", "unlocked"
    VERIFIED = "verified", "second factor accepted"
    FACTOR_FAILED = "factor_failed", "wrong second-factor code"
    FACTOR_ENROLLED = "factor_enrolled", "second factor enrolled"
    SIGNED_OUT = "signed_out", "signed out"
    EXPIRED = "expired", "session ended (idle or time limit)"
    INVITED = "invited", "set-up link issued"
    DEACTIVATED = "deactivated", "deactivated"


class SignInEvent(models.Model):
    """One thing that happened at the admin's door: append-only, read by superusers.

    ``username`` is what was typed (a failed guess may name no real user); ``actor`` is
    who did it when that is someone else (an unlock, an invitation, a deactivation).
    """

    kind = models.CharField(max_length=20, choices=SignInEventKind.choices)
    username = models.CharField(max_length=150, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["username", "-at"])]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.username or '-'}"


class Lockout(AccessAttempt):
    """django-axes' failed-attempt counters, shown beside the record (with *Unlock*)."""

    class Meta:
        proxy = True
        verbose_name = "access attempt"


class FormOnce(models.Model):
    """One admin form's rendering that took effect (``layers_ops.staff.once``): the
    primary key is its token, so the database lets it take effect once."""

    token = models.CharField(max_length=80, primary_key=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    consumed_at = models.DateTimeField(db_index=True)
    outcome = models.CharField(max_length=300, blank=True)

    class Meta:
        verbose_name = "form submitted once"

    def __str__(self):
        return f"{self.token} ({self.outcome or 'done'})"
