"""A partner's request as the API queues it (``lease_request_submit``): in live mode the
one statement of ``requests.lease_request_queue``; in test mode (an ``lp_test_`` key,
whose organization is a sandbox twin) that statement and the request's fulfilment job in
one transaction, so ops never see it and it never waits without its job."""

from django.db import transaction

from layers_ops.jobs.engine import defer
from layers_ops.partners.models import ApiKey, KeyEnvironment

from ..models import LeaseRequest
from ..tasks import sandbox_request_fulfil
from . import requests
from .sandbox import sandbox_fulfil_at


def lease_request_submit(*, lease_request: LeaseRequest, api_key: ApiKey, claim=None) -> None:
    """Queue a request built by ``requests.lease_request_build`` (``claim``: as for
    ``lease_request_queue``)."""
    if api_key.environment != KeyEnvironment.TEST:
        requests.lease_request_queue(lease_request=lease_request, claim=claim)
        return
    with transaction.atomic():
        requests.lease_request_queue(lease_request=lease_request, claim=claim)
        defer(
            sandbox_request_fulfil,
            schedule_at=sandbox_fulfil_at(lease_request),
            lease_request_id=lease_request.pk,
        )
