"""Counts the SQL statements and CPU time each request costs, in response headers.

``X-Query-Count`` and ``X-Cpu-Ms`` (CPU time of the worker thread in the Django handler,
reading the body included) are on every answer. A request that sends ``X-Bench-Sql: 1`` also gets
``X-Query-Sql``: a JSON list of ``{"sql", "params", "ms"}``, one per statement, in order.
Only statements sent through Django cursors are seen: BEGIN and COMMIT (psycopg's
autocommit switch) and connection health checks are not counted; SAVEPOINTs are.
"""

import json
import time

from django.db import connection

TRACE_HEADER = "HTTP_X_BENCH_SQL"


class QueryRecorder:
    def __init__(self, *, keep_sql: bool):
        self.count = 0
        self.keep_sql = keep_sql
        self.statements: list[dict] = []

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        if not self.keep_sql:
            return execute(sql, params, many, context)
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.statements.append(
                {
                    "sql": sql,
                    "params": repr(params)[:300],
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                }
            )


class QueryCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        recorder = QueryRecorder(keep_sql=TRACE_HEADER in request.META)
        cpu_started = time.thread_time()
        with connection.execute_wrapper(recorder):
            response = self.get_response(request)
        response["X-Cpu-Ms"] = f"{(time.thread_time() - cpu_started) * 1000:.2f}"
        response["X-Query-Count"] = str(recorder.count)
        if recorder.keep_sql:
            response["X-Query-Sql"] = json.dumps(recorder.statements)
        return response
