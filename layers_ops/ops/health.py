"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: database reachable,
every migration on disk applied, the job queue answering, Redis answering when
configured).

Both are unauthenticated and cheap: ``/healthz`` touches nothing, ``/readyz`` runs two
queries (the applied migrations, which also proves the database answers, and the job
queue) and one Redis PING. Answers say which check failed, never why: no host, version
or error text.
"""

import logging
from functools import cache

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.loader import MigrationLoader
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

logger = logging.getLogger(__name__)

OK, FAILING = "ok", "failing"


@cache
def _migrations_on_disk() -> frozenset[tuple[str, str]]:
    """Every migration the code holds; read once per process (the files do not change)."""
    return frozenset(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)


@cache
def _redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


def _database_checks() -> dict[str, str]:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT app, name FROM django_migrations")
            applied = set(cursor.fetchall())
    except DatabaseError as exc:
        logger.warning("Readiness: the database is unreachable (%s)", type(exc).__name__)
        return {"database": FAILING, "migrations": FAILING, "jobs": FAILING}
    pending = _migrations_on_disk() - applied
    if pending:
        logger.warning("Readiness: %d migrations are not applied", len(pending))
    return {"database": OK, "migrations": FAILING if pending else OK, "jobs": _jobs_check()}


def _jobs_check() -> str:
    """The job queue answers: a web process defers jobs in its own transactions, so it
    cannot serve without it (workers being up is a metric, not readiness)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM procrastinate_jobs LIMIT 1")
    except DatabaseError as exc:
        logger.warning("Readiness: the job queue does not answer (%s)", type(exc).__name__)
        return FAILING
    return OK


def _redis_check() -> str:
    import redis

    try:
        _redis_client(settings.REDIS_URL).ping()
    except redis.RedisError as exc:
        logger.warning("Readiness: Redis is unreachable (%s)", type(exc).__name__)
        return FAILING
    return OK


def _answer(checks: dict[str, str]) -> JsonResponse:
    ready = all(state == OK for state in checks.values())
    response = JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks},
        status=200 if ready else 503,
    )
    if not ready:
        response["Retry-After"] = "5"
    return response


@never_cache
@require_safe
def healthz(request) -> JsonResponse:
    """The process is up and answering; nothing else is touched."""
    return _answer({})


@never_cache
@require_safe
def readyz(request) -> JsonResponse:
    """Ready for traffic: 200, or 503 naming the checks that fail."""
    checks = _database_checks()
    if settings.REDIS_URL:
        checks["redis"] = _redis_check()
    return _answer(checks)
