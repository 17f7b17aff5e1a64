"""Query parameters read through the one grammar (``layers_ops.grammar``): a value that
breaks it is 422 ``VALIDATION`` naming the parameter."""

import re
from collections.abc import Callable
from typing import TypeVar

from layers_ops.grammar import GrammarError

from .converters import PublicIdConverter
from .exceptions import ValidationFailed

T = TypeVar("T")


def query_value(name: str, raw: str | None, parse: Callable[..., T], **bounds) -> T | None:
    """``parse(raw, **bounds)``, or None when the parameter is absent."""
    if raw is None:
        return None
    try:
        return parse(raw, **bounds)
    except GrammarError as refused:
        message = str(refused)
        raise ValidationFailed(
            f"{name} {message}",
            details=[{"field": name, "message": message[:1].upper() + message[1:]}],
        ) from None


def query_choice(name: str, raw: str | None, choices, default=None) -> str | None:
    """``raw`` when it is one of ``choices``; ``default`` when the parameter is absent."""
    if raw is None:
        return default
    if raw not in choices:
        listed = ", ".join(choices)
        raise ValidationFailed(
            f"{name} must be one of: {listed}.",
            details=[{"field": name, "message": f"Must be one of {listed}."}],
        )
    return raw


def query_public_id(name: str, raw: str | None) -> str | None:
    """An id given as a query parameter, held to the rule paths hold ids to
    (``converters.PublicIdConverter``); None when the parameter is absent."""
    if raw is None:
        return None
    if not re.fullmatch(PublicIdConverter.regex, raw):
        raise ValidationFailed(
            f"{name} must be an id (1-64 letters, digits, _ or -).",
            details=[{"field": name, "message": "Must be 1-64 letters, digits, _ or -."}],
        )
    return raw
