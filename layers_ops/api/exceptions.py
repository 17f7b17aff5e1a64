"""The error envelope: one exception type per failure, mapped here and nowhere else.

Every error body is ``{"error": {"code", "message", "requestId", "details"}}``.
"""

import logging

from django.conf import settings
from django.core import exceptions as django_exceptions
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger(__name__)


class ApiError(Exception):
    status_code = 500
    code = "INTERNAL"
    message = "Something went wrong on our side. The request id helps us find it."

    def __init__(self, message: str | None = None, *, details=None, headers=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.details = details or []
        self.headers = headers or {}


class BadRequest(ApiError):
    status_code = 400
    code = "BAD_REQUEST"
    message = "The request could not be read."


class ValidationFailed(ApiError):
    status_code = 422
    code = "VALIDATION"
    message = "The request is not valid."


class Unauthenticated(ApiError):
    status_code = 401
    code = "UNAUTHENTICATED"
    message = "Missing or invalid API key."

    def __init__(self, message: str | None = None, **kwargs):
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="api"'})
        super().__init__(message, **kwargs)


class BillingExhausted(ApiError):
    status_code = 402
    code = "BILLING_EXHAUSTED"
    message = "The wallet would not cover even one account. Top up and retry."


class ScopeMissing(ApiError):
    status_code = 403
    code = "FORBIDDEN_SCOPE"
    message = "This API key lacks the scope this endpoint needs."


class NotFound(ApiError):
    status_code = 404
    code = "NOT_FOUND"
    message = "Not found."


class MethodNotAllowed(ApiError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    message = "Method not allowed on this endpoint."


class NotAcceptable(ApiError):
    status_code = 406
    code = "NOT_ACCEPTABLE"
    message = "This API only answers application/json."


class RequestTimeout(ApiError):
    status_code = 408
    code = "REQUEST_TIMEOUT"
    message = "The request did not arrive in time; send it again."


class Conflict(ApiError):
    status_code = 409
    code = "CONFLICT"
    message = "Conflict."


class LengthRequired(ApiError):
    status_code = 411
    code = "LENGTH_REQUIRED"
    message = "Send the body with a Content-Length header (chunked bodies are not read)."


class PayloadTooLarge(ApiError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "The body is larger than this API accepts."


class UriTooLong(ApiError):
    status_code = 414
    code = "URI_TOO_LONG"
    message = "The request line is too long."


class HeadersTooLarge(ApiError):
    status_code = 431
    code = "HEADERS_TOO_LARGE"
    message = "The request sends too many or too large header fields."


class UnsupportedMediaType(ApiError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    message = "Send the body as application/json."


class RateLimited(ApiError):
    status_code = 429
    code = "RATE_LIMITED"
    message = "Rate limit exhausted for this endpoint class. Retry after the given seconds."


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    message = "The service cannot reach its database right now. Retry after the given seconds."

    def __init__(self, message: str | None = None, **kwargs):
        kwargs.setdefault("headers", {"Retry-After": str(RETRY_AFTER_SECONDS)})
        super().__init__(message, **kwargs)


# Seconds a client is asked to wait when the database is unreachable.
RETRY_AFTER_SECONDS = 5


# An error lists at most this many problems, then one more detail saying how many it left
# out: the answer to a body with thousands of mistakes stays small.
MAX_DETAILS = 50
_MORE = "more:"


def more_problems(count: int) -> drf.ErrorDetail:
    """A stand-in for ``count`` problems a validator chose not to spell out."""
    return drf.ErrorDetail(f"{count} more problems.", code=f"{_MORE}{count}")


def capped(details: list[dict]) -> list[dict]:
    """At most MAX_DETAILS problems, then ``... and N more problems not listed.``"""
    more = sum(detail.get("more", 0) for detail in details)
    problems = [detail for detail in details if "more" not in detail]
    if len(problems) > MAX_DETAILS:
        more += len(problems) - MAX_DETAILS
        problems = problems[:MAX_DETAILS]
    if more:
        problems.append({"field": None, "message": f"... and {more} more problems not listed."})
    return problems


def error_body(request_id: str | None, code: str, message: str, details=None) -> dict:
    return {
        "error": {
            "code": code,
            "message": message,
            "requestId": request_id,
            "details": capped(details or []),
        }
    }


def error_response(request, error: ApiError) -> JsonResponse:
    """A plain Django response in the envelope, for errors raised outside DRF views."""
    request_id = getattr(request, "request_id", None)
    response = JsonResponse(
        error_body(request_id, error.code, error.message, error.details),
        status=error.status_code,
    )
    for name, value in error.headers.items():
        response[name] = value
    return response


def flatten_details(detail, path: str = "") -> list[dict]:
    """DRF's nested error detail as a flat list of ``{field, message}`` with dotted paths."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            if key == "non_field_errors":
                out.extend(flatten_details(value, path))
            elif isinstance(key, int):  # a list's child, as DRF's ListField reports them
                out.extend(flatten_details(value, f"{path}[{key}]"))
            else:
                out.extend(flatten_details(value, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [_detail(path, item) for item in detail]
        out = []
        for index, item in enumerate(detail):
            if item in ({}, [], None):
                continue
            out.extend(flatten_details(item, f"{path}[{index}]"))
        return out
    return [_detail(path, detail)]


# A partner's text echoed in a detail (an unknown field's name) is clipped to this length.
MAX_ECHO = 200


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ECHO else text[: MAX_ECHO - 1] + "\u2026"


def _detail(path: str, message) -> dict:
    code = getattr(message, "code", None)
    if isinstance(code, str) and code.startswith(_MORE):
        return {"more": int(code.removeprefix(_MORE))}
    return {"field": _clip(path) if path else None, "message": _clip(str(message))}


# Django refusing to read a request --------------------------------------------------------
#
# Django raises these while reading a request it will not serve: too many parameters or
# files, a body over the limit, a Host it does not serve, a broken or cut-off body. Each
# is the client's doing, so under /v1 it is a 4xx envelope wherever it surfaces: in a
# partner view (exception_handler), in any other /v1 view (RequestIdMiddleware) or before
# any view (handler400). This is the one mapping all three use.

_READ_REFUSALS = (
    django_exceptions.SuspiciousOperation,  # TooManyFieldsSent, DisallowedHost, ...
    django_exceptions.BadRequest,
    MultiPartParserError,
    UnreadablePostError,
)


def request_refusal(exc) -> ApiError | None:
    """The answer to an exception Django raised because it would not read the request;
    None for any other exception."""
    if not isinstance(exc, _READ_REFUSALS):
        return None
    if isinstance(exc, django_exceptions.RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, django_exceptions.TooManyFieldsSent):
        return BadRequest(
            f"The request holds more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS:,} "
            "parameters (query string or form body)."
        )
    if isinstance(exc, django_exceptions.TooManyFilesSent):
        return BadRequest("The request holds more files than this API reads.")
    if isinstance(exc, django_exceptions.DisallowedHost):
        return BadRequest("The request names a Host this service does not serve.")
    return BadRequest()


def log_request_refusal(request, exc) -> None:
    """Log a refusal as Django would have: suspicious operations to ``django.security.*``
    (where alerting watches for them), the rest as a warning."""
    if isinstance(exc, django_exceptions.SuspiciousOperation):
        logging.getLogger(f"django.security.{type(exc).__name__}").error(
            "%s [%s]", exc, getattr(request, "request_id", "-")
        )
    else:
        logger.warning(
            "Bad request %s %s: %s [%s]",
            getattr(request, "method", "-"),
            getattr(request, "path", "-"),
            exc,
            getattr(request, "request_id", "-"),
        )


# The database unreachable ------------------------------------------------------------------
#
# A lost or refused connection (and the other transient failures PostgreSQL reports as
# OperationalError: a statement timeout, a deadlock victim) is no bug of ours nor the
# client's: 503 with Retry-After, wherever it surfaces under /v1 (exception_handler,
# RequestIdMiddleware, handler500). This is the one mapping all three use.


def database_unavailable(exc) -> ApiError | None:
    """The answer to an exception saying the database cannot serve; None otherwise."""
    if not isinstance(exc, OperationalError | InterfaceError):
        return None
    from layers_ops.ops.metrics import DB_UNAVAILABLE

    DB_UNAVAILABLE.inc()
    return ServiceUnavailable()


def log_database_unavailable(request, exc) -> None:
    """A warning naming the failure's type: its text may name hosts, and is not needed."""
    logger.warning(
        "Database unavailable %s %s: %s [%s]",
        getattr(request, "method", "-"),
        getattr(request, "path", "-"),
        type(exc.__cause__ or exc).__name__,
        getattr(request, "request_id", "-"),
    )


def _as_api_error(exc) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    unavailable = database_unavailable(exc)
    if unavailable is not None:
        return unavailable
    refusal = request_refusal(exc)
    if refusal is not None:
        return refusal
    if isinstance(exc, drf.ParseError):
        return ValidationFailed(
            "The body is not valid JSON.", details=[{"field": None, "message": str(exc.detail)}]
        )
    if isinstance(exc, drf.ValidationError):
        return ValidationFailed(details=flatten_details(exc.detail))
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return Unauthenticated()
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return ScopeMissing()
    if isinstance(exc, drf.NotFound | Http404):
        return NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowed(str(exc.detail))
    if isinstance(exc, drf.NotAcceptable):
        return NotAcceptable()
    if isinstance(exc, drf.UnsupportedMediaType):
        return UnsupportedMediaType()
    if isinstance(exc, drf.Throttled):
        return RateLimited()
    return ApiError()


def exception_handler(exc, context):
    """DRF's EXCEPTION_HANDLER: every exception becomes the envelope, never a traceback."""
    error = _as_api_error(exc)
    request = context.get("request")
    request_id = getattr(request, "request_id", None) if request else None
    if request_refusal(exc) is not None:
        log_request_refusal(request, exc)
    if isinstance(error, ServiceUnavailable) and not isinstance(exc, ApiError):
        log_database_unavailable(request, exc)
    if type(error) is ApiError:
        # The partner quotes the request id; the log line must carry it to be found.
        logger.exception(
            "Unhandled error %s %s [%s]",
            getattr(request, "method", "-"),
            getattr(request, "path", "-"),
            request_id,
            exc_info=exc,
        )
    response = Response(
        error_body(request_id, error.code, error.message, error.details),
        status=error.status_code,
    )
    for name, value in error.headers.items():
        response[name] = value
    return response
