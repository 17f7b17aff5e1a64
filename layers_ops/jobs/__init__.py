"""The background half of the service, on procrastinate (a PostgreSQL job queue).

* ``engine``: how the worker runs every job (one log line per job, the web request's id
  carried into it, database connections checked like a web request's) and ``defer``,
  the one way code queues a job: inside the caller's transaction, so a rolled-back
  change leaves no job and a committed one always has its job.
* ``tasks``: the engine's own upkeep (stalled jobs, finished jobs pruned); each app's
  periodic work lives in that app's ``tasks.py``.

Queues: ``webhooks`` (partner deliveries) and ``maintenance`` (periodic work).
Processes: ``python manage.py procrastinate worker`` (README, Processes), any number.
"""
