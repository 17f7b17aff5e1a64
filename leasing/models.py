"""Warmed-account pools, the lease-request queue ops works, notes and leases.

``leasing.services`` holds every state change to these rows.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.utils import timezone

from layers_ops.ids import prefixed_ulid
from layers_ops.partners.models import ApiKey, Organization, Project


def new_lease_request_id() -> str:
    return prefixed_ulid("lreq")


def new_social_account_id() -> str:
    return prefixed_ulid("sa")


class Pool(models.Model):
    """A hand-warmed group of accounts sharing verticals, a language and follower geos."""

    name = models.CharField(max_length=120, unique=True)
    tags = models.JSONField(default=list, blank=True, help_text="Verticals, e.g. coffee, fitness.")
    language = models.CharField(max_length=35, blank=True, help_text="BCP-47 tag, e.g. en.")
    geos = models.JSONField(default=list, blank=True, help_text="ISO 3166-1 alpha-2 codes.")
    notes = models.TextField(blank=True, help_text="Anything ops should know about the pool.")
    sandbox_of = models.OneToOneField(
        Organization,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        editable=False,
        related_name="+",
        help_text="For a sandbox pool: the test-mode organization whose fake accounts it "
        "holds (leasing.services.sandbox). Live requests never draw from it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AccountState(models.TextChoices):
    WARMING = "warming", "Warming"
    READY = "ready", "Ready"
    LEASED = "leased", "Leased"
    COOLDOWN = "cooldown", "Cooldown"
    RETIRED = "retired", "Retired"


# The moves an account may make: warming -> ready -> leased -> (cooldown | retired).
# ``leased`` is entered only by allocating a request and left only when its lease ends.
ACCOUNT_MOVES = {
    AccountState.WARMING: {AccountState.READY, AccountState.RETIRED},
    AccountState.READY: {AccountState.LEASED, AccountState.WARMING, AccountState.RETIRED},
    AccountState.LEASED: {AccountState.COOLDOWN, AccountState.RETIRED},
    AccountState.COOLDOWN: {AccountState.READY, AccountState.RETIRED},
    AccountState.RETIRED: set(),
}


class SocialAccount(models.Model):
    """A warmed TikTok account.

    While it is ``leased`` its handle and platform are what the partner holds: the
    database refuses changing them (a trigger, migration 0010). Every change is recorded
    as an AccountEvent (``leasing.services``)."""

    id = models.CharField(primary_key=True, max_length=30, default=new_social_account_id)
    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="accounts")
    platform = models.CharField(max_length=16, default="tiktok", editable=False)
    handle = models.CharField(max_length=64)
    followers = models.PositiveIntegerField(default=0)
    follower_geos = models.JSONField(
        default=list, blank=True, help_text="Countries most followers are in (ISO codes)."
    )
    state = models.CharField(
        max_length=16, choices=AccountState.choices, default=AccountState.WARMING, db_index=True
    )
    warmed_since = models.DateTimeField(null=True, blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["handle"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=AccountState.values), name="social_account_state_valid"
            ),
            models.UniqueConstraint(
                fields=["platform", "handle"], name="social_account_handle_unique_per_platform"
            ),
        ]
        indexes = [
            models.Index(fields=["pool", "state"], name="social_account_pool_state"),
            # Allocation ranking reads each pool's ready accounts in followers order.
            models.Index(
                fields=["pool", "-followers", "id"],
                condition=Q(state="ready"),
                name="social_account_ready_followers",
            ),
        ]

    def __str__(self) -> str:
        return f"@{self.handle}"


class AccountEvent(models.Model):
    """One entry of an account's history, append-only: a move between states
    (``from_state`` -> ``to_state``) or an edit of its details (``changes``), with who
    made it, when and why."""

    account = models.ForeignKey(SocialAccount, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=16, choices=AccountState.choices, blank=True)
    to_state = models.CharField(
        max_length=16, choices=AccountState.choices, blank=True, help_text="Empty for an edit."
    )
    changes = models.JSONField(
        default=dict,
        blank=True,
        help_text='What an edit changed: {"field": [before, after]}, pools by name.',
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    actor_label = models.CharField(max_length=150, help_text="A username, or 'system'.")
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(to_state="") | ~Q(changes={}),
                name="account_event_is_a_move_or_an_edit",
            ),
        ]

    def __str__(self) -> str:
        if not self.to_state:
            return f"{self.account_id}: edited {', '.join(self.changes)}"
        return f"{self.account_id}: {self.from_state or '-'} -> {self.to_state}"


class AccountImport(models.Model):
    """One CSV intake that wrote to the inventory: who ran it, what it did, what it refused.

    ``refused`` keeps the refused rows as ``[line, handle, reason]`` for the downloadable
    report. Written by ``leasing.intake.accounts_import`` only; never edited.
    """

    pool = models.ForeignKey(Pool, on_delete=models.PROTECT, related_name="imports")
    file_name = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=16, choices=AccountState.choices)
    added = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    refused_count = models.PositiveIntegerField(default=0)
    refused = models.JSONField(default=list, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    actor_label = models.CharField(max_length=150, help_text="A username, or 'system'.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Import {self.pk} into {self.pool}"


class RequestStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    ASSIGNED = "assigned", "Assigned"
    PARTIAL = "partial", "Partial"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATUSES = frozenset(
    {RequestStatus.ASSIGNED, RequestStatus.PARTIAL, RequestStatus.REJECTED, RequestStatus.CANCELLED}
)

MAX_COUNT = 50
NOTE_MAX_LENGTH = 2000


class LeaseRequest(models.Model):
    """A partner's ask for ``count`` accounts in a niche: one row in the ops queue."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="lease_requests")
    public_id = models.CharField(
        max_length=64,
        default=new_lease_request_id,
        help_text="The requestId partners see: theirs if they sent one, else lreq_<ULID>.",
    )
    status = models.CharField(
        max_length=16, choices=RequestStatus.choices, default=RequestStatus.REQUESTED
    )
    count = models.PositiveSmallIntegerField()
    vertical = models.CharField(max_length=100, help_text="As the partner spelled it.")
    vertical_key = models.CharField(
        max_length=300,
        help_text="The vertical as matched against pool tags, filtered and counted: "
        "leasing.validators.vertical_key (trimmed, spaces collapsed, case-folded).",
    )
    audience = models.CharField(max_length=500, blank=True)
    language = models.CharField(max_length=35, blank=True)
    geo = models.JSONField(default=list, blank=True)
    target = models.TextField(blank=True)
    partner_note = models.TextField(blank=True, help_text="Context the partner gave ops.")
    api_key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, blank=True)
    submitted_at = models.DateTimeField(default=timezone.now, db_index=True)
    sla_due_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="48 business-day hours (Mon-Fri, America/Los_Angeles, federal holidays "
        "off) after submission; see leasing.sla.",
    )
    assigned_at = models.DateTimeField(
        null=True, blank=True, help_text="When the first account was assigned."
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="claimed_lease_requests",
        help_text="The ops person working the request.",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="closed_lease_requests",
    )

    class Meta:
        ordering = ["submitted_at"]
        permissions = [
            ("allocate_leaserequest", "Can allocate accounts to and close lease requests"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "public_id"], name="lease_request_id_unique_per_org"
            ),
            models.CheckConstraint(
                condition=Q(count__gte=1, count__lte=MAX_COUNT), name="lease_request_count_1_50"
            ),
            models.CheckConstraint(
                condition=Q(status__in=RequestStatus.values), name="lease_request_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status=RequestStatus.REQUESTED) | Q(closed_at__isnull=False),
                name="lease_request_closed_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(vertical_key=""), name="lease_request_vertical_key_set"
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status"], name="lease_request_project_status"),
            models.Index(
                fields=["submitted_at"],
                condition=Q(status="requested"),
                name="lease_request_open_queue",
            ),
            models.Index(
                fields=["sla_due_at"],
                condition=Q(status="requested"),
                name="lease_request_open_sla_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.count} x {self.vertical})"


class NoteVisibility(models.TextChoices):
    INTERNAL = "internal", "Internal (ops only)"
    PARTNER = "partner", "Partner-visible"


class RequestNote(models.Model):
    """A note on a request. Never edited: a correction is a new note.

    ``body`` holds 1 to ``NOTE_MAX_LENGTH`` characters, checked by the database; a longer
    note is refused (``validators.note_body_clean``), never cut."""

    lease_request = models.ForeignKey(LeaseRequest, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField(help_text=f"At most {NOTE_MAX_LENGTH:,} characters.")
    visibility = models.CharField(
        max_length=16, choices=NoteVisibility.choices, default=NoteVisibility.INTERNAL
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        help_text="Empty for notes written by the system (e.g. a command run without --actor).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    GreaterThan(Length("body"), 0), LessThanOrEqual(Length("body"), NOTE_MAX_LENGTH)
                ),
                name="request_note_body_1_2000_chars",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_visibility_display()} note on {self.lease_request.public_id}"

    @property
    def author_name(self) -> str:
        return self.author.get_username() if self.author_id else "system"


class LeaseStatus(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    DISCONNECTED = "disconnected", "Disconnected"


class BillingStatus(models.TextChoices):
    CURRENT = "current", "Current"
    PAST_DUE = "past_due", "Past due"


class DisconnectReason(models.TextChoices):
    RELEASED_BY_PARTNER = "released_by_partner", "Released by the partner"
    UNPAID = "unpaid", "Unpaid after the grace period"
    OPS = "ops", "Ended by ops"


class Lease(models.Model):
    """One social account leased to one project, billed monthly from ``assigned_at``.

    Period ``n`` (0, 1, 2, ...) starts ``n`` calendar months after ``assigned_at``
    (``leasing.periods.period_start``). ``periods_paid`` counts the periods charged so
    far, so ``next_renewal_at`` is the start of period ``periods_paid``.
    """

    social_account = models.ForeignKey(
        SocialAccount, on_delete=models.PROTECT, related_name="leases"
    )
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="leases")
    lease_request = models.ForeignKey(
        LeaseRequest, on_delete=models.PROTECT, null=True, blank=True, related_name="leases"
    )
    status = models.CharField(
        max_length=16, choices=LeaseStatus.choices, default=LeaseStatus.ASSIGNED
    )
    billing_status = models.CharField(
        max_length=16, choices=BillingStatus.choices, default=BillingStatus.CURRENT
    )
    monthly_price_cents = models.BigIntegerField()
    assigned_at = models.DateTimeField()
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    periods_paid = models.PositiveIntegerField(
        default=0, help_text="How many monthly periods have been charged."
    )
    next_renewal_at = models.DateTimeField(null=True, blank=True)
    past_due_since = models.DateTimeField(
        null=True, blank=True, help_text="When a renewal first failed for want of funds."
    )
    disconnected_at = models.DateTimeField(null=True, blank=True)
    disconnected_reason = models.CharField(
        max_length=32, choices=DisconnectReason.choices, blank=True
    )

    class Meta:
        ordering = ["-assigned_at"]
        permissions = [("end_lease", "Can end running leases (ops)")]
        constraints = [
            models.UniqueConstraint(
                fields=["social_account"],
                condition=Q(status="assigned"),
                name="one_active_lease_per_account",
            ),
            models.CheckConstraint(
                condition=Q(monthly_price_cents__gt=0), name="lease_price_positive"
            ),
            models.CheckConstraint(
                condition=(
                    Q(status=LeaseStatus.ASSIGNED, disconnected_at__isnull=True)
                    | Q(
                        status=LeaseStatus.DISCONNECTED,
                        disconnected_at__isnull=False,
                        disconnected_reason__in=DisconnectReason.values,
                    )
                ),
                name="lease_disconnected_has_time_and_reason",
            ),
            models.CheckConstraint(
                condition=Q(billing_status=BillingStatus.CURRENT) | Q(past_due_since__isnull=False),
                name="lease_past_due_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["project", "status"], name="lease_project_status"),
            models.Index(
                fields=["next_renewal_at"],
                condition=Q(status="assigned"),
                name="lease_due_for_renewal",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.social_account} → {self.project_id}"


class RenewalTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Every 15 minutes (job engine)"
    COMMAND = "command", "renew_leases command"


class RenewalRun(models.Model):
    """One finished renewal run, as ``leases_renew`` counted it: the admin home and
    ``/metrics`` read the newest to tell whether renewals are running."""

    trigger = models.CharField(max_length=16, choices=RenewalTrigger.choices)
    at = models.DateTimeField(help_text="The time renewed as of.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(db_index=True)
    renewed = models.PositiveIntegerField(default=0)
    past_due = models.PositiveIntegerField(default=0)
    disconnected = models.PositiveIntegerField(default=0)
    periods_charged = models.PositiveIntegerField(default=0)
    charged_cents = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-finished_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__gte=models.F("started_at")),
                name="renewal_run_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return f"Renewal run {self.finished_at:%Y-%m-%d %H:%M} ({self.trigger})"
