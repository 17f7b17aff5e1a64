"""The partner webhooks leasing emits, each with the object the matching GET returns:
``lease_request.*`` with the request, ``lease.*`` with the leased account.

Called by the services inside the transaction of the change (``layers_ops.webhooks``
writes the event and defers its deliveries there), and only after the change is saved,
so ``data`` shows the request or lease as it now is.
"""

from layers_ops.webhooks.models import EventType
from layers_ops.webhooks.services import Occurrence, events_emit, events_wanted

from .models import Lease, LeaseRequest, RequestStatus
from .serializers import LeasedAccountOut, LeaseRequestOut

REQUEST_EVENTS = {
    RequestStatus.ASSIGNED: EventType.LEASE_REQUEST_ASSIGNED,
    RequestStatus.PARTIAL: EventType.LEASE_REQUEST_PARTIAL,
    RequestStatus.REJECTED: EventType.LEASE_REQUEST_REJECTED,
    RequestStatus.CANCELLED: EventType.LEASE_REQUEST_CANCELLED,
}


def request_closed_emit(lease_request: LeaseRequest) -> None:
    """``lease_request.assigned``, ``.partial``, ``.rejected`` or ``.cancelled``, by the
    status the request was just closed with."""
    from .selectors import lease_request_get

    type = REQUEST_EVENTS.get(lease_request.status)
    if type is None or not events_wanted(
        organization_ids=[lease_request.organization_id], type=type
    ):
        return
    fresh = lease_request_get(
        organization_id=lease_request.organization_id, request_id=lease_request.public_id
    )
    events_emit(
        [
            Occurrence(
                organization_id=fresh.organization_id,
                project_id=fresh.project_id,
                type=type,
                data=dict(LeaseRequestOut(fresh).data),
            )
        ]
    )


def leases_changed_emit(lease_ids, *, type: str) -> None:
    """``lease.past_due`` or ``lease.disconnected`` for each lease, read as it now is."""
    lease_ids = list(lease_ids)
    if not lease_ids:
        return
    organizations = set(
        Lease.objects.filter(pk__in=lease_ids).values_list("project__organization_id", flat=True)
    )
    wanted = events_wanted(organization_ids=organizations, type=type)
    if not wanted:
        return
    leases = (
        Lease.objects.filter(pk__in=lease_ids, project__organization_id__in=wanted)
        .select_related("social_account", "project")
        .order_by("pk")
    )
    events_emit(
        [
            Occurrence(
                organization_id=lease.project.organization_id,
                project_id=lease.project_id,
                type=type,
                data=dict(LeasedAccountOut(lease).data),
            )
            for lease in leases
        ]
    )
