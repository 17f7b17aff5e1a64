"""Keyset pagination: ``?limit=`` (1-200, default 50) and an opaque ``?cursor=``.

Pages are ordered newest first by primary key, so rows inserted while a partner pages
through never shift or repeat what they see. The answer is ``{items, nextCursor}``.
"""

import base64
import binascii
import json
import re

from .exceptions import ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _encode(pk: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"before": pk}).encode()).decode().rstrip("=")


def _decode(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        before = json.loads(base64.urlsafe_b64decode(padded.encode()))["before"]
        if isinstance(before, int) and not isinstance(before, bool):
            return before
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        pass
    raise ValidationFailed(
        "The cursor is not one this API gave out.",
        details=[{"field": "cursor", "message": "Invalid cursor."}],
    )


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be a whole number from 1 to {MAX_LIMIT}.",
            details=[{"field": "limit", "message": f"Must be an integer 1-{MAX_LIMIT}."}],
        )
    return int(raw)


def paginate(queryset, query_params, serialize) -> dict:
    """One page of ``queryset`` (newest first) as ``{items, nextCursor}``."""
    limit = parse_limit(query_params.get("limit"))
    cursor = query_params.get("cursor")
    queryset = queryset.order_by("-pk")
    if cursor:
        queryset = queryset.filter(pk__lt=_decode(cursor))
    rows = list(queryset[: limit + 1])
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [serialize(row) for row in page],
        "nextCursor": _encode(page[-1].pk) if more else None,
    }
