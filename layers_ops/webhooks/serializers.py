"""Shapes of the webhook API: what a partner may send, and what we answer."""

import ipaddress
from urllib.parse import urlsplit

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from layers_ops.api.fields import BoundedListField, StrictCharField, StrictSerializer, Timestamp

from .models import DeliveryStatus, EndpointStatus, EventType
from .transport import address_refusal

MAX_EVENTS = 50
METADATA_MAX_KEYS = 20
METADATA_KEY_MAX = 40
METADATA_VALUE_MAX = 500
URL_MAX = 2048

# The events a partner subscribes to (test.ping is sent by POST .../test, to one endpoint).
SUBSCRIBABLE = [t for t in EventType.values if t != EventType.TEST_PING]


class EventTypeField(StrictCharField):
    default_error_messages = {
        "unknown": "Unknown event type {value!r}; one of: " + ", ".join(SUBSCRIBABLE) + "."
    }
    schema_enum = SUBSCRIBABLE

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 64)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value not in SUBSCRIBABLE:
            self.fail("unknown", value=value)
        return value


class EndpointUrlField(StrictCharField):
    schema_pattern = "^https?://"

    """An ``https`` URL with a host name or a public address, and no user or password.
    The address a name resolves to is checked again at every delivery attempt."""

    default_error_messages = {"url": "{message}"}

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", URL_MAX)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data).strip()
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError:
            self.fail("url", message="Must be a URL such as https://example.com/hooks/layers.")
        allowed = ("https", "http") if settings.WEBHOOK_ALLOW_PRIVATE_URLS else ("https",)
        if parts.scheme not in allowed:
            self.fail("url", message="Must be an https:// URL.")
        if not parts.hostname:
            self.fail("url", message="Must name a host, e.g. https://example.com/hooks.")
        if parts.username or parts.password:
            self.fail("url", message="Must not carry a user name or password.")
        if parts.fragment:
            self.fail("url", message="Must not carry a #fragment.")
        refusal = None if settings.WEBHOOK_ALLOW_PRIVATE_URLS else _refusal(parts.hostname)
        if refusal:
            self.fail("url", message=f"Must be a public address: {parts.hostname} is {refusal}.")
        return value


def _refusal(host: str) -> str | None:
    """Why ``host`` is refused now, if it is an address (the rule every delivery attempt
    applies, ``transport.address_refusal``) or a loopback name; a name's addresses are
    checked again at each attempt."""
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return "a loopback name"
    try:
        return address_refusal(ipaddress.ip_address(host))
    except ValueError:
        return None


@extend_schema_field(
    {
        "type": "object",
        "maxProperties": METADATA_MAX_KEYS,
        "additionalProperties": {
            "type": "string",
            "maxLength": METADATA_VALUE_MAX,
            "pattern": "^[^\\u0000]*$",  # no NUL: PostgreSQL cannot store it
        },
    }
)
class MetadataField(serializers.DictField):
    """Up to 20 string keys (1 to 40 characters; OpenAPI 3.0 cannot state it) with string
    values (500 characters)."""

    child = StrictCharField(max_length=METADATA_VALUE_MAX, allow_blank=True)
    default_error_messages = {
        "too_many": f"At most {METADATA_MAX_KEYS} keys.",
        "key": f"Keys are 1 to {METADATA_KEY_MAX} characters.",
    }

    def to_internal_value(self, data):
        if isinstance(data, dict):
            if len(data) > METADATA_MAX_KEYS:
                self.fail("too_many")
            if any(not 1 <= len(key) <= METADATA_KEY_MAX for key in data):
                self.fail("key")
        return super().to_internal_value(data)


def _events(value):
    return list(dict.fromkeys(value))  # a repeated name counts once, in the partner's order


class EndpointIn(StrictSerializer):
    url = EndpointUrlField(help_text="Where to POST events: https, public address.")
    events = BoundedListField(
        child=EventTypeField(),
        min_length=1,
        max_length=MAX_EVENTS,
        help_text="The event types to receive (1-50).",
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=500)
    projectId = StrictCharField(
        required=False,
        allow_null=True,
        max_length=64,
        help_text="Only this project's events; every project's when absent.",
    )
    metadata = MetadataField(required=False)

    validate_events = staticmethod(_events)


class EndpointPatch(StrictSerializer):
    url = EndpointUrlField(required=False)
    events = BoundedListField(
        child=EventTypeField(), min_length=1, max_length=MAX_EVENTS, required=False
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=500)
    status = serializers.ChoiceField(
        choices=[EndpointStatus.ACTIVE, EndpointStatus.PAUSED],
        required=False,
        help_text="`paused` stops deliveries; `active` resumes them, sending what waited.",
    )

    validate_events = staticmethod(_events)


class EndpointOut(serializers.Serializer):
    id = serializers.CharField()
    organizationId = serializers.CharField(source="organization_id")
    projectId = serializers.CharField(source="project_id", allow_null=True)
    url = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=EndpointStatus.choices)
    events = serializers.ListField(child=serializers.CharField())
    metadata = serializers.DictField(child=serializers.CharField())
    createdAt = Timestamp(source="created_at")
    updatedAt = Timestamp(source="updated_at")
    lastSuccessAt = Timestamp(source="last_success_at", allow_null=True)
    lastFailureAt = Timestamp(source="last_failure_at", allow_null=True)
    consecutiveFailureCount = serializers.IntegerField(source="consecutive_failure_count")


class EndpointCreated(serializers.Serializer):
    endpoint = EndpointOut(source="*")
    signingSecret = serializers.CharField(
        source="secret", help_text="Signs every delivery. Shown only here: keep it safe."
    )


class SecretRotated(serializers.Serializer):
    endpoint = EndpointOut(source="*")
    signingSecret = serializers.CharField(source="secret", help_text="The new secret.")
    previousSecretExpiresAt = Timestamp(
        source="previous_secret_expires_at",
        help_text="Until then deliveries carry a signature by each secret.",
    )


class EndpointPage(serializers.Serializer):
    items = EndpointOut(many=True)
    nextCursor = serializers.CharField(allow_null=True)


class DeliveryOut(serializers.Serializer):
    deliveryId = serializers.CharField(source="id")
    endpointId = serializers.CharField(source="endpoint_id")
    eventId = serializers.CharField(source="event_id")
    type = serializers.ChoiceField(source="event.type", choices=EventType.choices)
    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    attempts = serializers.IntegerField()
    lastStatusCode = serializers.IntegerField(source="last_status_code", allow_null=True)
    lastAttemptAt = Timestamp(source="last_attempt_at", allow_null=True)
    nextAttemptAt = Timestamp(source="next_attempt_at", allow_null=True)
    createdAt = Timestamp(source="created_at")


class DeliveryPage(serializers.Serializer):
    items = DeliveryOut(many=True)
    nextCursor = serializers.CharField(allow_null=True)


class ReplayOut(serializers.Serializer):
    originalDeliveryId = serializers.CharField(source="replay_of_id")
    replayDeliveryId = serializers.CharField(source="id")
    scheduledAt = Timestamp(source="next_attempt_at")
