"""Keyset pagination: ``?limit=`` (1-200, default 50; a whole number in the one grammar,
``layers_ops.grammar``) and an opaque ``?cursor=``.

Pages are ordered newest first by a row's own time and public id, so rows inserted
while a partner pages through never shift or repeat what they see. The cursor carries
only the last item's time and public id (the partner's own row) and is signed: a cursor
the API did not give out, or one from another listing, is 422 ``VALIDATION``. The
answer is ``{items, nextCursor}``.
"""

import datetime

from django.core import signing
from django.db.models import Q

from layers_ops.grammar import whole_number

from .exceptions import ValidationFailed
from .query import query_value

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR_LENGTH = 512
_SALT = "layers_ops.api.cursor"


def _invalid_cursor() -> ValidationFailed:
    return ValidationFailed(
        "The cursor is not one this API gave out for this listing.",
        details=[{"field": "cursor", "message": "Invalid cursor."}],
    )


def _signer(keys: tuple[str, str]) -> signing.TimestampSigner:
    # The listing's keys are part of the salt: a cursor only opens the listing it came from.
    return signing.TimestampSigner(salt=f"{_SALT}:{keys[0]}:{keys[1]}")


def _encode(row, keys: tuple[str, str]) -> str:
    time_field, id_field = keys
    moment = getattr(row, time_field)
    return _signer(keys).sign_object([moment.isoformat(), str(getattr(row, id_field))])


def _decode(cursor: str, keys: tuple[str, str]) -> tuple[datetime.datetime, str]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise _invalid_cursor()
    try:
        moment, public_id = _signer(keys).unsign_object(cursor)
        return datetime.datetime.fromisoformat(moment), str(public_id)
    except (signing.BadSignature, ValueError, TypeError):
        raise _invalid_cursor() from None


def parse_limit(raw: str | None) -> int:
    limit = query_value("limit", raw, whole_number, minimum=1, maximum=MAX_LIMIT)
    return DEFAULT_LIMIT if limit is None else limit


def paginate(queryset, query_params, serialize, *, keys: tuple[str, str]) -> dict:
    """One page of ``queryset``, newest first, as ``{items, nextCursor}``.

    ``keys`` names the row's own time field and a public id unique within the listing,
    e.g. ``("submitted_at", "public_id")``; together they order the rows and make the
    cursor.
    """
    time_field, id_field = keys
    limit = parse_limit(query_params.get("limit"))
    cursor = query_params.get("cursor")
    queryset = queryset.order_by(f"-{time_field}", f"-{id_field}")
    if cursor:
        moment, public_id = _decode(cursor, keys)
        queryset = queryset.filter(
            Q(**{f"{time_field}__lt": moment})
            | Q(**{time_field: moment, f"{id_field}__lt": public_id})
        )
    rows = list(queryset[: limit + 1])
    page, more = rows[:limit], len(rows) > limit
    return {
        "items": [serialize(row) for row in page],
        "nextCursor": _encode(page[-1], keys) if more else None,
    }
