"""OpenAPI pieces every endpoint shares: the error envelope, paging and header params."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from .exceptions import (
    BillingExhausted,
    Conflict,
    NotFound,
    RateLimited,
    ScopeMissing,
    Unauthenticated,
    ValidationFailed,
)
from .pagination import MAX_LIMIT

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
        ValidationFailed,
        Unauthenticated,
        BillingExhausted,
        ScopeMissing,
        NotFound,
        Conflict,
        RateLimited,
    )
}

_WHEN = {
    401: "Missing, malformed, unknown or revoked API key.",
    402: "The wallet would not cover one account-month. Nothing was queued.",
    403: "The key lacks the scope this endpoint needs.",
    404: "Not in your organization.",
    409: "Idempotency-Key reused with a different body, or requestId already used.",
    422: "The body, a query parameter or the Idempotency-Key breaks a rule; details name "
    "every failing field.",
    429: "The key's budget for this endpoint class is spent; see Retry-After.",
}


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
        "limit", OpenApiTypes.INT, description=f"Page size, 1-{MAX_LIMIT} (default 50)."
    ),
    OpenApiParameter("cursor", str, description="`nextCursor` from the previous page."),
]
