import logging

from layers_ops.ids import new_request_id

from .exceptions import ApiError, error_response

logger = logging.getLogger(__name__)

API_PREFIX = "/v1/"


class RequestIdMiddleware:
    """Gives every request a ``req_`` id, echoed in ``X-Request-Id`` on every answer.

    Under /v1/ it also turns any exception that escaped a view into the JSON envelope,
    so partners never see an HTML error page or a traceback.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = new_request_id()
        response = self.get_response(request)
        response["X-Request-Id"] = request.request_id
        for name, value in getattr(request, "rate_limit_headers", {}).items():
            response[name] = value
        return response

    def process_exception(self, request, exception):
        if not request.path.startswith(API_PREFIX):
            return None
        logger.exception(
            "Unhandled error %s %s [%s]",
            request.method,
            request.path,
            getattr(request, "request_id", "-"),
            exc_info=exception,
        )
        return error_response(request, ApiError())
