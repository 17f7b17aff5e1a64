"""Shapes of the partner API: what a partner may send, and what we answer."""

import re

import pycountry
from django.core.validators import RegexValidator
from rest_framework import serializers

from layers_ops.api.fields import (
    BoundedListField,
    ShallowFieldCopies,
    StrictCharField,
    StrictIntegerField,
    StrictSerializer,
    Timestamp,
)

from .models import (
    MAX_COUNT,
    NOTE_MAX_LENGTH,
    BillingStatus,
    DisconnectReason,
    LeaseStatus,
    RequestStatus,
)
from .validators import COUNTRY_UNKNOWN, InvalidValue, country_code_check, language_tag_check

PARTNER_REQUEST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")


COUNTRY_CODES = sorted(country.alpha_2 for country in pycountry.countries)


class CountryCodeField(StrictCharField):
    default_error_messages = {"country": COUNTRY_UNKNOWN}
    schema_enum = COUNTRY_CODES

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 2)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return country_code_check(value)
        except InvalidValue:
            self.fail("country", value=data)


class LanguageTagField(StrictCharField):
    """A BCP-47 tag, by the rules in ``leasing.validators.language_tag_check``: well-formed
    (``en_US`` is not) and made of registered subtags (``english`` is not)."""

    # The shape of a tag for the OpenAPI document (language, script, region, variants,
    # extensions, private use); the registry check has no pattern.
    schema_pattern = (
        "^(?:[A-Za-z]{2,3}(?:-[A-Za-z]{3}){0,3}|[A-Za-z]{4,8})(?:-[A-Za-z]{4})?"
        "(?:-(?:[A-Za-z]{2}|[0-9]{3}))?(?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*"
        "(?:-[A-WY-Za-wy-z0-9](?:-[A-Za-z0-9]{2,8})+)*(?:-[Xx](?:-[A-Za-z0-9]{1,8})+)?$"
    )

    default_error_messages = {"language": "{message}"}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            return language_tag_check(value)
        except InvalidValue as exc:
            self.fail("language", message=str(exc))


class NicheIn(StrictSerializer):
    vertical = StrictCharField(max_length=100, help_text="Broad category: coffee, fitness, ...")
    audience = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=500)
    language = LanguageTagField(
        required=False, allow_null=True, max_length=35, help_text="BCP-47 tag, e.g. en or pt-BR."
    )
    geo = BoundedListField(
        child=CountryCodeField(),
        required=False,
        allow_null=True,
        max_length=250,
        help_text="ISO 3166-1 alpha-2 country codes; a repeated code counts once.",
    )

    def validate_geo(self, value):
        # "us" and "US" are one country: keep the first of each, in the partner's order.
        return list(dict.fromkeys(value)) if value is not None else value


class LeaseRequestIn(StrictSerializer):
    projectId = StrictCharField(max_length=64, help_text="Must equal the projectId in the path.")
    count = StrictIntegerField(min_value=1, max_value=MAX_COUNT)
    niche = NicheIn()
    target = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=2000)
    note = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=NOTE_MAX_LENGTH
    )
    requestId = StrictCharField(
        required=False,
        allow_null=True,
        max_length=64,
        validators=[
            RegexValidator(PARTNER_REQUEST_ID, "Use 1-64 letters, digits, underscores or hyphens.")
        ],
        help_text="Your own id for the request (letters, digits, _ and -). Made for you if absent.",
    )

    def validate_projectId(self, value):
        if value != self.context["project_id"]:
            raise serializers.ValidationError("Must match the projectId in the path.")
        return value


class LeaseRequestAccepted(ShallowFieldCopies, serializers.Serializer):
    requestId = serializers.CharField(source="public_id")
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    submittedAt = Timestamp(source="submitted_at")


class NicheOut(serializers.Serializer):
    vertical = serializers.CharField()
    audience = serializers.CharField(allow_null=True)
    language = serializers.CharField(allow_null=True)
    geo = serializers.ListField(child=serializers.CharField())


class LeaseRequestOut(serializers.Serializer):
    requestId = serializers.CharField(source="public_id")
    projectId = serializers.CharField(source="project_id")
    status = serializers.ChoiceField(choices=RequestStatus.choices)
    count = serializers.IntegerField()
    niche = serializers.SerializerMethodField()
    target = serializers.CharField(allow_null=True)
    submittedAt = Timestamp(source="submitted_at")
    assignedAt = Timestamp(source="assigned_at", allow_null=True)
    assignedSocialAccountIds = serializers.SerializerMethodField()
    note = serializers.SerializerMethodField(
        help_text="The latest note ops left for you on this request, else null."
    )

    def get_niche(self, obj) -> NicheOut:
        return {
            "vertical": obj.vertical,
            "audience": obj.audience or None,
            "language": obj.language or None,
            "geo": obj.geo,
        }

    def get_assignedSocialAccountIds(self, obj) -> list[str]:
        return [lease.social_account_id for lease in obj.lease_rows]

    def get_note(self, obj) -> str | None:
        return obj.partner_notes[0].body if obj.partner_notes else None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["target"] = instance.target or None
        return data


class LeaseRequestPage(serializers.Serializer):
    items = LeaseRequestOut(many=True)
    nextCursor = serializers.CharField(allow_null=True)


class LeasedAccountOut(serializers.Serializer):
    socialAccountId = serializers.CharField(source="social_account_id")
    projectId = serializers.CharField(source="project_id")
    handle = serializers.CharField(source="social_account.handle")
    platform = serializers.CharField(source="social_account.platform")
    followers = serializers.IntegerField(source="social_account.followers")
    status = serializers.ChoiceField(choices=LeaseStatus.choices)
    assignedAt = Timestamp(source="assigned_at")
    nextRenewalAt = Timestamp(source="next_renewal_at", allow_null=True)
    monthlyPriceCents = serializers.IntegerField(source="monthly_price_cents")
    billingStatus = serializers.ChoiceField(source="billing_status", choices=BillingStatus.choices)
    disconnectedAt = Timestamp(source="disconnected_at", allow_null=True)
    disconnectedReason = serializers.ChoiceField(
        source="disconnected_reason", choices=DisconnectReason.choices, allow_null=True
    )

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["disconnectedReason"] = instance.disconnected_reason or None
        return data


class LeasedAccountPage(serializers.Serializer):
    items = LeasedAccountOut(many=True)
    nextCursor = serializers.CharField(allow_null=True)


class LeaseReleased(serializers.Serializer):
    socialAccountId = serializers.CharField(source="social_account_id")
    status = serializers.ChoiceField(choices=[LeaseStatus.DISCONNECTED])
    disconnectedReason = serializers.ChoiceField(
        source="disconnected_reason", choices=[DisconnectReason.RELEASED_BY_PARTNER]
    )
    disconnectedAt = Timestamp(source="disconnected_at")
