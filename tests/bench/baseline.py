"""``POST /bench/baseline``: the least work a lease-request POST could possibly do.

One query finds the API key named in the Bearer token (its secret is hash-compared, as
the product does), one INSERT queues the LeaseRequest. No scopes, rate limit,
idempotency, wallet check or input validation beyond what the INSERT needs. It runs
through the same middleware, parser and renderer as the real endpoint, so the ratio
real/baseline shows what the product's own per-request work costs.
"""

import hmac

from rest_framework.response import Response
from rest_framework.views import APIView

from layers_ops.partners.models import ApiKey
from layers_ops.partners.services import hash_secret
from leasing.models import LeaseRequest
from leasing.validators import vertical_key


def _api_key(request) -> ApiKey | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    parts = token.split("_")
    if scheme.lower() != "bearer" or len(parts) != 4:
        return None
    api_key = (
        ApiKey.objects.only("id", "organization_id", "secret_hash")
        .filter(id=f"key_{parts[2]}", revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not hmac.compare_digest(hash_secret(parts[3]), api_key.secret_hash):
        return None
    return api_key


class BaselineLeaseRequestView(APIView):
    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def post(self, request):
        api_key = _api_key(request)
        if api_key is None:
            return Response({"error": "unauthenticated"}, status=401)
        try:
            body = request.data
            fields = {
                "project_id": body["projectId"],
                "count": body["count"],
                "vertical": body["niche"]["vertical"],
                "vertical_key": vertical_key(body["niche"]["vertical"]),
            }
        except (KeyError, TypeError):
            return Response({"error": "need projectId, count and niche.vertical"}, status=400)
        lease_request = LeaseRequest.objects.create(
            organization_id=api_key.organization_id, api_key_id=api_key.pk, **fields
        )
        return Response(
            {"requestId": lease_request.public_id, "status": lease_request.status}, status=202
        )
