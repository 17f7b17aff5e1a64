"""Query parameters read through the one grammar (``layers_ops.grammar``): a value that
breaks it is 422 ``VALIDATION`` naming the parameter."""

from collections.abc import Callable
from typing import TypeVar

from layers_ops.grammar import GrammarError

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
