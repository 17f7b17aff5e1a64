"""OpenAPI pieces every endpoint shares, so the document states every rule the server keeps.

* ``error_responses(...)``: the error envelope for the statuses an endpoint answers.
* ``idempotency_key_header``, ``page_parameters``: the shared request parameters, with
  the bounds the server enforces (``limit`` 1-200).
* Field and serializer extensions: a strict serializer refuses unknown fields
  (``additionalProperties: false``); a strict text field states, as a ``pattern``, that
  it holds no NUL and (unless blank is allowed) something besides white space, or the
  field's own pattern or enum.
* ``postprocess`` (a drf-spectacular hook): adds to every operation the answers the
  plumbing or the server gives whatever the view (400, 405, 408, 414, 431, 503, and for
  bodies 411, 413, 415), the headers
  every answer carries (``X-Request-Id``, ``X-RateLimit-*``, ``Retry-After`` on 429 and 503,
  ``WWW-Authenticate`` on 401, ``Allow`` on 405), ``Location`` and
  ``Idempotent-Replayed`` on a POST's 2xx, and the links registered with ``link()``.

A new endpoint (wallet, ledger, cancel) gets all of it by using ``PartnerAPIView``, the
strict fields and ``error_responses``; nothing is added per view.
"""

from django.core.validators import RegexValidator
from drf_spectacular.extensions import (
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from .exceptions import (
    BadRequest,
    BillingExhausted,
    Conflict,
    HeadersTooLarge,
    LengthRequired,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    RequestTimeout,
    ScopeMissing,
    ServiceUnavailable,
    Unauthenticated,
    UnsupportedMediaType,
    UriTooLong,
    ValidationFailed,
)
from .pagination import DEFAULT_LIMIT, MAX_LIMIT

ErrorDetail = inline_serializer(
    "ErrorDetail",
    {
        "field": serializers.CharField(allow_null=True, help_text="e.g. niche.geo[1]"),
        "message": serializers.CharField(),
    },
)

ErrorEnvelope = inline_serializer(
    "ErrorEnvelope",
    {
        "error": inline_serializer(
            "Error",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "requestId": serializers.CharField(allow_null=True),
                "details": ErrorDetail.__class__(many=True),
            },
        )
    },
)

_ERRORS = {
    error.status_code: error
    for error in (
        BadRequest,
        ValidationFailed,
        Unauthenticated,
        BillingExhausted,
        ScopeMissing,
        NotFound,
        MethodNotAllowed,
        Conflict,
        LengthRequired,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
        RequestTimeout,
        UriTooLong,
        HeadersTooLarge,
        ServiceUnavailable,
    )
}

_WHEN = {
    400: "The request could not be read (a NUL character in the URL, an unknown Host).",
    401: "Missing, malformed, unknown or revoked API key.",
    402: "The wallet would not cover one account-month. Nothing was queued.",
    403: "The key lacks the scope this endpoint needs.",
    404: "Not in your organization.",
    405: "This path does not answer this method; `Allow` lists the ones it does.",
    408: "The request head did not arrive within 10 s, or the body within 10 s plus 1 s "
    "per 50 kB; the connection is closed.",
    409: "Idempotency-Key reused with a different body, or requestId already used.",
    411: "The body was sent chunked; send it with a Content-Length.",
    413: "The body is larger than 2.5 MB.",
    414: "The request line is longer than 4,094 bytes.",
    415: "The body is not application/json in UTF-8.",
    422: "The body, a query or path parameter (a statement month in the future, say) or the "
    "Idempotency-Key breaks a rule; details name every failing field (at most 50, then how "
    "many more).",
    429: "The key's budget for this endpoint class is spent; see Retry-After.",
    431: "More than 100 header fields, one over 8,190 bytes, or over 64 KB in all.",
    503: "The service cannot reach its database right now; retry after Retry-After seconds.",
}

# Answers the plumbing gives to any operation, and to any operation that reads a body.
EVERY_OPERATION = (400, 405, 408, 414, 431, 503)
BODY_OPERATIONS = (411, 413, 415)


def error_responses(*statuses: int) -> dict:
    return {
        status: OpenApiResponse(
            ErrorEnvelope, description=f"`{_ERRORS[status].code}`: {_WHEN[status]}"
        )
        for status in statuses
    }


idempotency_key_header = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.UUID,
    OpenApiParameter.HEADER,
    description="Recommended. The same key and body replay the first answer for 24 hours.",
)

page_parameters = [
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
        description=(
            f"Page size, 1-{MAX_LIMIT} (default {DEFAULT_LIMIT}), in ASCII digits without "
            "leading zeros."
        ),
    ),
    OpenApiParameter(
        "cursor", str, description="`nextCursor` from the previous page, exactly as given."
    ),
]


# Request fields --------------------------------------------------------------------------

# No NUL (PostgreSQL cannot store it); with blank refused, at least one character that
# is not white space (the server trims before checking).
TEXT_PATTERN = "^[^\\u0000]+$"  # blank is the other branch drf-spectacular writes
NON_BLANK_TEXT_PATTERN = "^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$"


class StrictCharFieldScheme(OpenApiSerializerFieldExtension):
    target_class = "layers_ops.api.fields.StrictCharField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        schema = auto_schema._map_serializer_field(field, direction, bypass_extensions=True)
        if direction != "request":
            return schema
        if getattr(field, "schema_enum", None):
            schema["enum"] = list(field.schema_enum)
        elif getattr(field, "schema_pattern", None):
            schema["pattern"] = field.schema_pattern
        elif not any(isinstance(v, RegexValidator) for v in field.validators):
            schema["pattern"] = TEXT_PATTERN if field.allow_blank else NON_BLANK_TEXT_PATTERN
        return schema


class StrictSerializerScheme(OpenApiSerializerExtension):
    """A strict serializer refuses fields it does not know: so does its schema."""

    target_class = "layers_ops.api.fields.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


# Answers: headers, plumbing statuses, links ------------------------------------------------

_STRING = {"type": "string"}
_INTEGER_TEXT = {"type": "integer", "minimum": 0}

_RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": ("The key's budget a minute for this endpoint class.", _INTEGER_TEXT),
    "X-RateLimit-Remaining": ("What is left of it.", _INTEGER_TEXT),
    "X-RateLimit-Reset": (
        "Unix time when the oldest counted request leaves the window.",
        _INTEGER_TEXT,
    ),
    "X-RateLimit-Endpoint-Class": (
        "`read` (GET) or `write`.",
        {"type": "string", "enum": ["read", "write"]},
    ),
}


def _header(description: str, schema: dict, *, required: bool) -> dict:
    return {"description": description, "required": required, "schema": schema}


def _headers_for(status: int, method: str) -> dict:
    headers = {
        "X-Request-Id": _header(
            "This request's id (`req_…`), also in an error's `requestId`.",
            {"type": "string", "pattern": "^req_[0-9A-Za-z]+$"},
            required=True,
        )
    }
    # A valid key's answers report its budget; a refusal before the key is read does not.
    always = 200 <= status < 300 or status == 429
    for name, (description, schema) in _RATE_LIMIT_HEADERS.items():
        headers[name] = _header(description, schema, required=always)
    if status in (429, 503):
        headers["Retry-After"] = _header(
            "Seconds until a request would be admitted (429), or worth retrying (503).",
            {"type": "integer", "minimum": 1},
            required=True,
        )
    if status == 401:
        headers["WWW-Authenticate"] = _header('`Bearer realm="api"`.', _STRING, required=True)
    if status == 405:
        headers["Allow"] = _header("The methods this path answers.", _STRING, required=True)
    if method == "post" and 200 <= status < 300:
        headers["Location"] = _header(
            "The URL to poll for what was created.",
            {"type": "string", "format": "uri"},
            required=True,
        )
        headers["Idempotent-Replayed"] = _header(
            "`true` when this is the stored answer to an earlier request with the same "
            "Idempotency-Key and body.",
            {"type": "string", "enum": ["true"]},
            required=False,
        )
    return headers


_LINKS: dict[tuple[str, int], dict] = {}


def link(operation_id: str, status: int, name: str, *, to: str, parameters: dict, description=""):
    """Declare that answer ``status`` of ``operation_id`` leads to operation ``to``.

    ``parameters`` maps the target's parameters to runtime expressions, e.g.
    ``{"requestId": "$response.body#/requestId"}``. Clients and the stateful tests follow
    these links (OpenAPI ``links``).
    """
    _LINKS.setdefault((operation_id, status), {})[name] = {
        "operationId": to,
        "parameters": parameters,
        **({"description": description} if description else {}),
    }


def _error_response(status: int) -> dict:
    return {
        "description": f"`{_ERRORS[status].code}`: {_WHEN[status]}",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }


def postprocess(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry: see the module docstring."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            statuses = EVERY_OPERATION + (BODY_OPERATIONS if "requestBody" in operation else ())
            for status in statuses:
                responses.setdefault(str(status), _error_response(status))
            for status, response in responses.items():
                response.setdefault("headers", {}).update(_headers_for(int(status), method))
                links = _LINKS.get((operation.get("operationId"), int(status)))
                if links:
                    response["links"] = links
            operation["responses"] = dict(sorted(responses.items()))
    return result
