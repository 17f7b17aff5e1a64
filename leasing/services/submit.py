"""A partner's request as the API queues it (``lease_request_submit``): created by
``requests.lease_request_create``; in test mode (an ``lp_test_`` key's organization) its
fulfilment job is queued in the same transaction, so ops never see it."""

from django.db import transaction

from layers_ops.jobs.engine import defer
from layers_ops.partners.models import ApiKey, KeyEnvironment, Organization

from ..models import LeaseRequest
from ..tasks import sandbox_request_fulfil
from . import requests
from .sandbox import sandbox_fulfil_at


@transaction.atomic
def lease_request_submit(
    *, organization_id: str, project_id: str, api_key: ApiKey | None, payload: dict
) -> LeaseRequest:
    lease_request = requests.lease_request_create(
        organization_id=organization_id, project_id=project_id, api_key=api_key, payload=payload
    )
    test = Organization.objects.filter(pk=organization_id, environment=KeyEnvironment.TEST)
    if test.exists():
        defer(
            sandbox_request_fulfil,
            schedule_at=sandbox_fulfil_at(lease_request),
            lease_request_id=lease_request.pk,
        )
    return lease_request
