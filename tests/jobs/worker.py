"""Running the real job worker inside a test.

``jobs_run`` starts procrastinate's worker on its own psycopg connection (the one
``manage.py procrastinate worker`` uses) against the test database, lets it work until
no job is due, and stops it. The jobs must be committed to be seen: use it in
``django_db(transaction=True)`` tests.
"""

import json

from procrastinate import periodic
from procrastinate.contrib.django import app, procrastinate_app


def jobs_run(*, queues=None, concurrency: int = 1, name: str = "test-worker") -> None:
    """Runs what is queued. The periodic schedule is left out: a real worker would also
    queue, say, renewals as of now, which a test does not expect."""
    real_app = procrastinate_app.current_app  # ``app`` is a proxy to it
    scheduled = real_app.periodic_registry
    real_app.periodic_registry = periodic.PeriodicRegistry()
    try:
        with app.replace_connector(app.connector.get_worker_connector()) as worker_app:
            worker_app.run_worker(
                queues=list(queues) if queues else None,
                wait=False,
                concurrency=concurrency,
                name=name,
                listen_notify=False,
                install_signal_handlers=False,
            )
    finally:
        real_app.periodic_registry = scheduled


def jobs(*, status=None, task_name=None) -> list[dict]:
    """The jobs in the queue, oldest first: ``{id, task, status, args, attempts}``."""
    from django.db import connection

    sql = "SELECT id, task_name, status, args, attempts FROM procrastinate_jobs WHERE true"
    params = []
    if status:
        sql += " AND status = %s"
        params.append(status)
    if task_name:
        sql += " AND task_name = %s"
        params.append(task_name)
    with connection.cursor() as cursor:
        cursor.execute(sql + " ORDER BY id", params)
        return [
            {"id": i, "task": t, "status": s, "args": json.loads(a), "attempts": n}
            for i, t, s, a, n in cursor.fetchall()
        ]
