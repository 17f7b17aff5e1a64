"""What the queue commands share: finding a request by its public id, the acting user,
and the one JSON line they print."""

import json

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from leasing.models import LeaseRequest


def add_request_arguments(parser) -> None:
    parser.add_argument("request_id", help="The request's public id (requestId).")
    parser.add_argument(
        "--org",
        help="Organization id (org_...), needed only when two organizations use that id.",
    )


def request_find(request_id: str, organization_id: str | None) -> LeaseRequest:
    found = LeaseRequest.objects.filter(public_id=request_id).select_related("organization")
    if organization_id:
        found = found.filter(organization_id=organization_id)
    found = list(found[:3])
    if not found:
        where = f" in {organization_id}" if organization_id else ""
        raise CommandError(f"No lease request {request_id!r}{where}.")
    if len(found) > 1:
        orgs = ", ".join(r.organization_id for r in found)
        raise CommandError(
            f"Request id {request_id!r} is used by more than one organization ({orgs}): pass --org."
        )
    return found[0]


def actor_find(username: str | None):
    if username is None:
        return None
    User = get_user_model()
    try:
        return User.objects.get(**{User.USERNAME_FIELD: username})
    except User.DoesNotExist:
        raise CommandError(f"No user {username!r}.") from None


def request_json(lease_request: LeaseRequest) -> str:
    ids = list(lease_request.leases.order_by("pk").values_list("social_account_id", flat=True))
    return json.dumps(
        {
            "requestId": lease_request.public_id,
            "status": lease_request.status,
            "assignedSocialAccountIds": ids,
        }
    )
