from django.db import models
from django.db.models import Q

from layers_ops.ids import prefixed_ulid


def new_organization_id() -> str:
    return prefixed_ulid("org")


def new_project_id() -> str:
    return prefixed_ulid("prj")


def new_api_key_id() -> str:
    return prefixed_ulid("key")


class Scope(models.TextChoices):
    LEASED_READ = "leased:read", "Read lease requests and leased accounts"
    LEASED_WRITE = "leased:write", "Request and release leased accounts (implies leased:read)"
    BILLING_READ = "billing:read", "Read the wallet and its ledger"
    WEBHOOKS_WRITE = "webhooks:write", "Manage webhook endpoints"
    ALL = "*", "Everything"


# A scope a key holds also grants the scopes listed here.
SCOPE_IMPLIES = {Scope.LEASED_WRITE: {Scope.LEASED_READ}}


class RateLimitTier(models.TextChoices):
    STANDARD = "standard", "Standard"
    PILOT = "pilot", "Pilot"
    PARTNER = "partner", "Partner"
    INTERNAL = "internal", "Internal (Layers-owned and load tests)"


class KeyEnvironment(models.TextChoices):
    LIVE = "live", "Live"
    TEST = "test", "Test"


class Organization(models.Model):
    """A partner (``live``), or the test-mode twin of one (``test``): the organization
    every ``lp_test_`` key of the partner belongs to, with a mirror of each live project
    and its own sandbox wallet (``services.organization_sandbox_get_or_create``). Every
    read and write is scoped to the key's organization, so test data and live data never
    meet."""

    id = models.CharField(primary_key=True, max_length=30, default=new_organization_id)
    name = models.CharField(max_length=200, unique=True)
    environment = models.CharField(
        max_length=4,
        choices=KeyEnvironment.choices,
        default=KeyEnvironment.LIVE,
        db_default=KeyEnvironment.LIVE,  # a row written outside the ORM is live too
        editable=False,
    )
    live_organization = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="sandbox",
        help_text="For a test-mode twin: the live organization it mirrors.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(environment=KeyEnvironment.LIVE, live_organization__isnull=True)
                    | Q(environment=KeyEnvironment.TEST, live_organization__isnull=False)
                ),
                name="organization_test_twin_names_its_live_org",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_test(self) -> bool:
        return self.environment == KeyEnvironment.TEST


class Project(models.Model):
    id = models.CharField(primary_key=True, max_length=30, default=new_project_id)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="projects"
    )
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="project_name_unique_per_org"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class ApiKey(models.Model):
    """A partner's key. Only a SHA-256 of the secret is kept; the whole key is shown once.

    The key a partner sends is ``lp_<environment>_<ULID part of id>_<secret>``.
    """

    id = models.CharField(primary_key=True, max_length=30, default=new_api_key_id)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="api_keys"
    )
    name = models.CharField(max_length=200, help_text="What the key is for, e.g. 'prod backend'.")
    environment = models.CharField(
        max_length=4, choices=KeyEnvironment.choices, default=KeyEnvironment.LIVE
    )
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list)
    rate_limit_tier = models.CharField(
        max_length=16, choices=RateLimitTier.choices, default=RateLimitTier.STANDARD
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"
        constraints = [
            models.CheckConstraint(
                condition=Q(environment__in=KeyEnvironment.values), name="api_key_environment_valid"
            ),
            models.CheckConstraint(
                condition=Q(rate_limit_tier__in=RateLimitTier.values),
                name="api_key_tier_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def token_key_id(self) -> str:
        """The part of the id that appears inside the token (the ULID)."""
        return self.id.removeprefix("key_")

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def grants(self, scope: str) -> bool:
        held = set(self.scopes)
        if Scope.ALL in held or scope in held:
            return True
        return any(scope in SCOPE_IMPLIES.get(h, ()) for h in held)
