"""Leasing's periodic work, run by the job engine's workers (``maintenance`` queue).

Each task is safe when two workers fire it at once: procrastinate runs a periodic task
once per timestamp, a queueing lock keeps a second run from queueing behind a long one,
and the services themselves are idempotent (renewals charge each (lease, period) once).
"""

from django.conf import settings
from django.db import transaction
from procrastinate.contrib.django import app

from billing.services.alerts import wallets_runway_check_all
from layers_ops.jobs.engine import QUEUE_MAINTENANCE

from .intake_uploads import intake_uploads_purge
from .models import RenewalTrigger
from .services.renewals import leases_renew
from .services.sandbox import sandbox_request_fulfil as sandbox_fulfil


@app.periodic(cron="*/15 * * * *", periodic_id="leases_renew")
@app.task(queue=QUEUE_MAINTENANCE, queueing_lock="leases_renew")
def leases_renew_scheduled(timestamp: int) -> dict:
    """Renewals every 15 minutes, as of the time the job runs (a job that waited renews
    what fell due meanwhile); then every wallet's runway, for ``wallet.low_balance``."""
    summary = leases_renew(trigger=RenewalTrigger.SCHEDULE)
    with transaction.atomic():
        wallets_runway_check_all()
    return {
        "renewed": summary.renewed,
        "pastDue": summary.past_due,
        "disconnected": summary.disconnected,
        "chargedCents": summary.charged_cents,
    }


@app.periodic(cron="*/15 * * * *", periodic_id="intake_uploads_purge")
@app.task(queue=QUEUE_MAINTENANCE, queueing_lock="intake_uploads_purge")
def intake_uploads_purge_scheduled(timestamp: int) -> int:
    """Deletes admin import previews never confirmed, past ``INTAKE_UPLOAD_TTL_MINUTES``
    (in ``INTAKE_UPLOAD_DIR``, which every web and worker host must share)."""
    return intake_uploads_purge(older_than_seconds=settings.INTAKE_UPLOAD_TTL_MINUTES * 60)


@app.task(queue=QUEUE_MAINTENANCE)
def sandbox_request_fulfil(lease_request_id: int) -> str:
    """A test-mode request fulfilled as its magic vertical says (``services.sandbox``);
    idempotent, and a request cancelled first is left cancelled."""
    return sandbox_fulfil(lease_request_id=lease_request_id)
