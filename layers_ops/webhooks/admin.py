"""Webhooks for ops: where each partner's events go, every delivery and its attempts.

Read-only history; the only changes are the actions, each through a service: pause and
resume endpoints (``webhooks.pause_webhookendpoint``), replay deliveries
(``webhooks.replay_webhookdelivery``).
"""

import json

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from layers_ops.admin_display import ReadOnlyMixin, local_time, short_id
from layers_ops.staff.once import ONCE_FIELD, AlreadyDone, OnceRefused

from . import services
from .models import EndpointStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

# Bodies and answers wrap: a long JSON line must not push the page sideways.
_PRE = '<pre style="white-space: pre-wrap; overflow-wrap: anywhere; margin: 0">{}</pre>'


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "endpoint",
        "partner",
        "status_cell",
        "event_list",
        "failures",
        "last_success",
        "last_failure",
    ]
    list_filter = ["status"]
    search_fields = ["id", "url", "organization__name", "project__id"]
    list_select_related = ["organization"]
    actions = ["pause", "resume"]
    fields = [
        "id",
        "organization",
        "project",
        "url",
        "description",
        "status",
        "events",
        "metadata",
        "consecutive_failure_count",
        "last_success_at",
        "last_failure_at",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
        "deliveries_link",
    ]
    readonly_fields = fields

    def has_pause_permission(self, request):
        return request.user.has_perm("webhooks.pause_webhookendpoint")

    @admin.display(description="Endpoint", ordering="url")
    def endpoint(self, obj):
        return format_html("{}<br>{}", obj.url, short_id(obj.pk))

    @admin.display(description="Partner · project", ordering="organization__name")
    def partner(self, obj):
        return format_html(
            "{}<br>{}",
            obj.organization.name,
            short_id(obj.project_id) if obj.project_id else "all projects",
        )

    @admin.display(description="Status", ordering="status")
    def status_cell(self, obj):
        if obj.status == EndpointStatus.ACTIVE:
            return "active"
        return format_html('<strong style="color: #ba2121">{}</strong>', obj.get_status_display())

    @admin.display(description="Events")
    def event_list(self, obj):
        return format_html("{}", ", ".join(obj.events))

    @admin.display(description="Failures in a row", ordering="consecutive_failure_count")
    def failures(self, obj):
        return obj.consecutive_failure_count

    @admin.display(description="Last success", ordering="last_success_at")
    def last_success(self, obj):
        return local_time(obj.last_success_at)

    @admin.display(description="Last failure", ordering="last_failure_at")
    def last_failure(self, obj):
        return local_time(obj.last_failure_at)

    @admin.display(description="Deliveries")
    def deliveries_link(self, obj):
        url = (
            reverse("admin:webhooks_webhookdelivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        )
        return format_html('<a href="{}">Every delivery to this endpoint</a>', url)

    @admin.action(
        description="Pause selected endpoints (nothing is sent until resumed)",
        permissions=["pause"],
    )
    def pause(self, request, queryset):
        self._status_set(request, queryset, EndpointStatus.PAUSED, services.endpoint_pause)

    @admin.action(
        description="Resume selected endpoints (and send what waited)", permissions=["pause"]
    )
    def resume(self, request, queryset):
        self._status_set(request, queryset, EndpointStatus.ACTIVE, services.endpoint_resume)

    def _status_set(self, request, queryset, status, service):
        changed = [endpoint for endpoint in queryset if endpoint.status != status]
        for endpoint in changed:
            service(endpoint=endpoint)
        done = "paused" if status == EndpointStatus.PAUSED else "resumed"
        self.message_user(request, f"{len(changed)} endpoint(s) {done}.", messages.SUCCESS)


class AttemptInline(ReadOnlyMixin, admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "started", "status_code", "took", "error", "answer"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "Attempts (the receiver's answer: its first kilobyte)"

    @admin.display(description="Time")
    def started(self, obj):
        return local_time(obj.started_at)

    @admin.display(description="Took")
    def took(self, obj):
        return f"{obj.duration_ms:,} ms"

    @admin.display(description="Answer")
    def answer(self, obj):
        return format_html(_PRE, obj.response_excerpt or "—")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["delivery", "event_type", "endpoint_cell", "status", "tries", "timing"]
    list_filter = ["status", "event__type"]
    search_fields = [
        "id",
        "event__id",
        "endpoint__id",
        "endpoint__url",
        "endpoint__organization__name",
    ]
    list_select_related = ["event", "endpoint", "endpoint__organization"]
    actions = ["replay"]
    inlines = [AttemptInline]
    fields = [
        "id",
        "endpoint",
        "event_id_cell",
        "event_type",
        "status",
        "attempts",
        "last_status_code",
        "last_attempt",
        "next_attempt",
        "replay_of",
        "created",
        "body",
    ]
    readonly_fields = fields

    def has_replay_permission(self, request):
        return request.user.has_perm("webhooks.replay_webhookdelivery")

    @admin.display(description="Delivery · created", ordering="created_at")
    def delivery(self, obj):
        return format_html("{}<br>{}", short_id(obj.pk), local_time(obj.created_at))

    @admin.display(description="Attempts", ordering="attempts")
    def tries(self, obj):
        if not obj.attempts:
            return "none yet"
        last = obj.last_status_code or "no answer"
        return format_html("{}<br>last: {}", obj.attempts, last)

    @admin.display(description="Last · next attempt", ordering="next_attempt_at")
    def timing(self, obj):
        last = local_time(obj.last_attempt_at)
        if obj.status != "pending":
            return last
        if obj.next_attempt_at is None:
            return format_html("{}<br>{}", last, "waits: endpoint not active")
        return format_html("{}<br>next {}", last, local_time(obj.next_attempt_at))

    @admin.display(description="Event", ordering="event__type")
    def event_type(self, obj):
        return obj.event.type

    @admin.display(description="Event id")
    def event_id_cell(self, obj):
        return short_id(obj.event_id)

    @admin.display(description="Endpoint")
    def endpoint_cell(self, obj):
        url = reverse("admin:webhooks_webhookendpoint_change", args=[obj.endpoint_id])
        return format_html(
            '{}<br><a href="{}">{}</a>', obj.endpoint.organization.name, url, obj.endpoint.url
        )

    @admin.display(description="Last attempt", ordering="last_attempt_at")
    def last_attempt(self, obj):
        return local_time(obj.last_attempt_at)

    @admin.display(description="Next attempt", ordering="next_attempt_at")
    def next_attempt(self, obj):
        return local_time(obj.next_attempt_at) if obj.status == "pending" else "—"

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        return local_time(obj.created_at)

    @admin.display(description="Body sent")
    def body(self, obj):
        return format_html(_PRE, json.dumps(json.loads(obj.event.body), indent=2))

    @admin.action(description="Replay selected deliveries (as new events)", permissions=["replay"])
    def replay(self, request, queryset):
        once = request.POST.get(ONCE_FIELD, "")
        replayed, skipped = [], []
        for delivery in queryset.select_related("event"):
            try:
                replayed.append(
                    services.delivery_replay(delivery=delivery, actor=request.user, once=once).pk
                )
            except (services.EndpointNotActive, AlreadyDone, OnceRefused) as refused:
                skipped.append(f"{delivery.pk} ({refused})")
        if replayed:
            self.message_user(request, f"{len(replayed)} delivery(ies) replayed.", messages.SUCCESS)
        if skipped:
            self.message_user(request, "Not replayed: " + "; ".join(skipped), messages.WARNING)
