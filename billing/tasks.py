"""Billing's periodic work, run by the job engine's workers (``maintenance`` queue)."""

import logging

from procrastinate.contrib.django import app

from layers_ops.jobs.engine import QUEUE_MAINTENANCE

from .reconciliation import reconciliation_run

logger = logging.getLogger(__name__)


@app.periodic(cron="30 11 * * *", periodic_id="ledger_verify")
@app.task(queue=QUEUE_MAINTENANCE, queueing_lock="ledger_verify")
def ledger_verify_scheduled(timestamp: int) -> int:
    """The reconciliation checks every night (11:30 UTC, 03:30 in Los Angeles in winter),
    recorded like a run from the console, so the finance home always says when the books
    were last checked. A broken invariant is logged as an ERROR (and reaches Sentry)."""
    problems = reconciliation_run(source="schedule")
    for problem in problems:
        logger.error("Reconciliation: %s", problem)
    return len(problems)
