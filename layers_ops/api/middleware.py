import logging

from django.core.exceptions import DisallowedHost, SuspiciousOperation
from django.http import HttpResponse
from django.views import defaults

from layers_ops.ids import new_request_id
from layers_ops.ops.trace import request_id_var

from .exceptions import (
    ApiError,
    BadRequest,
    LengthRequired,
    database_unavailable,
    error_response,
    log_database_unavailable,
    log_request_refusal,
    request_refusal,
)

logger = logging.getLogger(__name__)

API_PREFIX = "/v1/"


def is_api(request) -> bool:
    return request.path == API_PREFIX.rstrip("/") or request.path.startswith(API_PREFIX)


class RequestIdMiddleware:
    """Gives every request a ``req_`` id, echoed in ``X-Request-Id`` on every answer.

    Under /v1/ it also turns any exception that escaped a view into the JSON envelope,
    so partners never see an HTML error page or a traceback: a request Django would not
    read (``exceptions.request_refusal``) is its 4xx, the database unreachable
    (``exceptions.database_unavailable``) a 503 with Retry-After, anything else a 500.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = new_request_id()
        token = request_id_var.set(request.request_id)  # for jobs deferred and log lines
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-Id"] = request.request_id
        for name, value in getattr(request, "rate_limit_headers", {}).items():
            response[name] = value
        return response

    def process_exception(self, request, exception):
        if not is_api(request):
            return None
        refusal = request_refusal(exception)
        if refusal is not None:  # Django would not read the request: the client's 4xx
            log_request_refusal(request, exception)
            return error_response(request, refusal)
        unavailable = database_unavailable(exception)
        if unavailable is not None:
            log_database_unavailable(request, exception)
            return error_response(request, unavailable)
        logger.exception(
            "Unhandled error %s %s [%s]",
            request.method,
            request.path,
            getattr(request, "request_id", "-"),
            exc_info=exception,
        )
        return error_response(request, ApiError())


class RequestGuardMiddleware:
    """Refuses, before any view or query runs, requests no page of this service can serve.

    * A NUL character in the path or query string: PostgreSQL cannot hold NUL in text,
      so an admin filter or object id carrying one would otherwise end in a 500. 400.
    * A body sent with ``Transfer-Encoding`` (chunked) and so no ``Content-Length``:
      Django reads such a body as empty, and a valid request would be refused for
      missing fields. 411, so the client resends it with a length.
    * Under /v1, a ``Host`` outside ALLOWED_HOSTS. Django would raise DisallowedHost in
      the next middleware, where the exception is turned into a response before
      RequestIdMiddleware sees it: under DEBUG that is the HTML debug page. Checked here,
      it is the 400 envelope in every mode.

    Under /v1 the answer is the JSON envelope; elsewhere Django's plain pages.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if is_api(request):
            try:
                request.get_host()
            except DisallowedHost as exc:
                log_request_refusal(request, exc)
                return error_response(request, request_refusal(exc))
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            return self._refuse(request, BadRequest("The URL holds a NUL character."))
        encoding = request.META.get("HTTP_TRANSFER_ENCODING", "").strip().lower()
        if encoding and encoding != "identity":
            return self._refuse(request, LengthRequired())
        return self.get_response(request)

    def _refuse(self, request, error: ApiError) -> HttpResponse:
        if is_api(request):
            return error_response(request, error)
        if error.status_code == 400:
            return defaults.bad_request(request, SuspiciousOperation(error.message))
        return HttpResponse(error.message, status=error.status_code, content_type="text/plain")
