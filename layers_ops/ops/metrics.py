"""Prometheus metrics at ``/metrics``: request and database timings, and the business
gauges each app contributes.

* Request metrics are counted in the process that served the request. Under gunicorn
  every worker is its own process, so the server runs prometheus-client's multiprocess
  mode: ``PROMETHEUS_MULTIPROC_DIR`` (set and emptied at server start by
  ``gunicorn.conf.py``) holds each worker's counters, and a scrape, whichever worker
  answers it, reads them all.
* Business gauges are computed when scraped, by a few aggregate queries each app owns.
  The apps register a collector when they load (``register_collector``); this package
  never imports them.
* ``METRICS_TOKEN`` unset: ``/metrics`` is 404. Set: it wants ``Authorization: Bearer
  <token>``, else 401.
"""

import hmac
import logging
import os
from collections.abc import Callable, Iterable

from django.conf import settings
from django.http import Http404, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

logger = logging.getLogger(__name__)

REQUEST_SECONDS = Histogram(
    "layers_http_request_duration_seconds",
    "Time to answer a request, by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DB_SECONDS = Histogram(
    "layers_http_request_db_seconds",
    "Time a request spent waiting on the database, by route template.",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
DB_STATEMENTS = Counter(
    "layers_http_request_db_statements",
    "SQL statements run by requests, by route template.",
    ["route"],
)
DB_UNAVAILABLE = Counter(
    "layers_db_unavailable",
    "Requests answered 503 because the database could not be reached.",
)

Collector = Callable[[], Iterable[Metric]]
_collectors: list[Collector] = []


def register_collector(collector: Collector) -> None:
    """Add a function that yields metric families (``gauge(...)``) at every scrape."""
    if collector not in _collectors:
        _collectors.append(collector)


def gauge(name: str, documentation: str, value=None, *, labels=(), samples=()) -> Metric:
    """A gauge family: one ``value``, or ``samples`` of ``(label values, value)``."""
    family = GaugeMetricFamily(name, documentation, value=value, labels=labels or None)
    for label_values, sample in samples:
        family.add_metric(list(label_values), sample)
    return family


class _AppCollectors:
    def collect(self):
        for collector in _collectors:
            try:
                yield from collector()
            except Exception:  # one app's failing query must not hide every other metric
                logger.exception("Metrics collector %s failed", collector.__qualname__)
                yield gauge(
                    "layers_metrics_collector_failed",
                    "1 when a business-metrics collector raised during this scrape.",
                    labels=["collector"],
                    samples=[((collector.__module__,), 1)],
                )


def exposition() -> bytes:
    """Every metric, in the Prometheus text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        process = generate_latest(registry)
    else:
        process = generate_latest(REGISTRY)
    business = CollectorRegistry(auto_describe=False)
    business.register(_AppCollectors())
    return process + generate_latest(business)


def _authorized(request) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), settings.METRICS_TOKEN.encode()
    )


@never_cache
@require_safe
def metrics_view(request) -> HttpResponse:
    if not settings.METRICS_TOKEN:
        raise Http404
    if not _authorized(request):
        response = HttpResponse("Send Authorization: Bearer <METRICS_TOKEN>.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
