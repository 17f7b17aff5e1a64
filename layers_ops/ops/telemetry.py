"""One middleware measures every request: its Prometheus metrics and its log line.

The log line (logger ``layers_ops.request``, INFO) carries the request id, method, route
template, path, status, duration, SQL statement count and time and, for partner calls,
the organization and API key id (the key's public id, never the key). Nothing from the
headers or the body is logged.
"""

import logging
import time

from django.db import connection

from . import metrics

logger = logging.getLogger("layers_ops.request")

UNMATCHED = "<unmatched>"


class _QueryTimer:
    """``connection.execute_wrapper``: counts statements and the time spent in them."""

    def __init__(self):
        self.statements = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.statements += 1


def route_of(request) -> str:
    match = getattr(request, "resolver_match", None)
    return "/" + match.route if match is not None and match.route is not None else UNMATCHED


class RequestTelemetryMiddleware:
    """Placed right after ``RequestIdMiddleware``: sees the request id and the final
    answer, error envelopes included."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        timer = _QueryTimer()
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            response = self.get_response(request)
        duration = time.perf_counter() - started
        route = route_of(request)
        status = response.status_code
        metrics.REQUEST_SECONDS.labels(route, request.method, str(status)).observe(duration)
        metrics.DB_SECONDS.labels(route).observe(timer.seconds)
        if timer.statements:
            metrics.DB_STATEMENTS.labels(route).inc(timer.statements)
        fields = {
            "requestId": getattr(request, "request_id", None),
            "method": request.method,
            "route": route,
            "path": request.path,
            "status": status,
            "durationMs": round(duration * 1000, 2),
            "dbStatements": timer.statements,
            "dbMs": round(timer.seconds * 1000, 2),
        }
        api_key = getattr(request, "auth", None)
        if api_key is not None and hasattr(api_key, "organization_id"):
            fields["organizationId"] = api_key.organization_id
            fields["apiKeyId"] = api_key.pk
        logger.info(
            "%s %s %s %.1fms %d queries [%s]",
            request.method,
            request.path,
            status,
            duration * 1000,
            timer.statements,
            fields["requestId"],
            extra={"fields": fields},
        )
        return response
