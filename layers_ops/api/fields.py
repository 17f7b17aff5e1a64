"""Serializer fields that hold partners to the JSON types the contract names."""

import copy
import datetime

from rest_framework import serializers
from rest_framework.settings import api_settings

from .exceptions import MAX_DETAILS, ValidationFailed, flatten_details, more_problems

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class Timestamp(serializers.DateTimeField):
    """UTC, second precision: ``2026-04-18T19:24:11Z``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("format", TIMESTAMP_FORMAT)
        kwargs.setdefault("default_timezone", datetime.UTC)
        super().__init__(**kwargs)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: strings, floats (even 5.0) and booleans are refused."""

    default_error_messages = {"invalid": "Must be an integer (not a string, float or boolean)."}

    def to_internal_value(self, data):
        if type(data) is not int:
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string: numbers and booleans are refused rather than turned into text.

    The length rule comes first: DRF runs every validator (the surrogate check walks the
    string in Python) before it reports a string as too long, and subclasses parse or
    echo the value; a 2 MB string is refused for its length at the cost of ``len()``.
    """

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class BoundedListField(serializers.ListField):
    """A JSON list whose length rules are checked before any item is validated.

    DRF validates every item and only then the length, so a list far over ``max_length``
    would cost one validation (and one error) per item. Here it costs one ``len()``.
    """

    def to_internal_value(self, data):
        if isinstance(data, list):
            if self.max_length is not None and len(data) > self.max_length:
                self.fail("max_length", max_length=self.max_length)
            if self.min_length is not None and len(data) < self.min_length:
                self.fail("min_length", min_length=self.min_length)
        return super().to_internal_value(data)


# Per-instance state a copy of a declared field must not share with its prototype.
_INSTANCE_STATE = ("fields", "_validated_data", "_errors", "_data", "initial_data")


class ShallowFieldCopies:
    """A serializer whose fields are shallow copies of the declared ones.

    DRF deep-copies every declared field for every serializer instance, which runs each
    field's ``__init__`` again: ~0.3 ms of CPU per POST for ``LeaseRequestIn`` and its
    nested ``NicheIn``, and ~30 us for the answer's ``LeaseRequestAccepted`` (the
    benchmark's profile), a tenth of the request in all. Fields configured once, at
    class definition, and never changed per instance (no view here changes them) need
    no more than a shallow copy each, given its own name and parent by ``bind``.
    """

    def get_fields(self):
        fields = {}
        for name, declared in self._declared_fields.items():
            field = copy.copy(declared)
            for state in _INSTANCE_STATE:
                field.__dict__.pop(state, None)
            fields[name] = field
        return fields


class StrictSerializer(ShallowFieldCopies, serializers.Serializer):
    """Refuses fields it does not know, naming each one. (Fields copied shallowly:
    ``ShallowFieldCopies``.)"""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                # Only the names the answer will show are turned into errors; the rest
                # are counted, so thousands of unknown fields cost no more than fifty.
                errors = {name: ["Unknown field."] for name in unknown[:MAX_DETAILS]}
                try:
                    super().to_internal_value(data)
                except serializers.ValidationError as exc:
                    errors = {**exc.detail, **errors}
                if len(unknown) > MAX_DETAILS:
                    errors.setdefault(api_settings.NON_FIELD_ERRORS_KEY, []).append(
                        more_problems(len(unknown) - MAX_DETAILS)
                    )
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


def validated(serializer_class, data, **context) -> dict:
    """Run an input serializer; a failure is 422 VALIDATION listing every field."""
    serializer = serializer_class(data=data, context=context)
    if not serializer.is_valid():
        raise ValidationFailed(details=flatten_details(serializer.errors))
    return serializer.validated_data
