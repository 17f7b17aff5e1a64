"""Partner API views: validate, call one service or selector, render."""

from functools import partial

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from layers_ops.api.exceptions import Conflict
from layers_ops.api.fields import validated
from layers_ops.api.idempotency import idempotent, rendered
from layers_ops.api.pagination import paginate
from layers_ops.api.schema import (
    ErrorEnvelope,
    error_responses,
    idempotency_key_header,
    link,
    page_parameters,
)
from layers_ops.api.views import PartnerAPIView
from layers_ops.partners.models import Scope

from . import selectors
from .models import LeaseStatus, RequestStatus
from .serializers import (
    LeasedAccountOut,
    LeasedAccountPage,
    LeaseReleased,
    LeaseRequestAccepted,
    LeaseRequestIn,
    LeaseRequestOut,
    LeaseRequestPage,
)
from .services import leases, requests, submit
from .services.errors import RequestClosed

READ = {"GET": Scope.LEASED_READ}

request_status_param = OpenApiParameter(
    "status", str, enum=RequestStatus.values, description="Only requests in this status."
)
for _to in ("getProjectLeaseRequest", "getLeaseRequest"):
    link(
        "requestLease",
        202,
        _to,
        to=_to,
        parameters={
            **({"projectId": "$request.path.projectId"} if _to == "getProjectLeaseRequest" else {}),
            "requestId": "$response.body#/requestId",
        },
        description="Poll the request just queued.",
    )

link(
    "requestLease",
    202,
    "cancelLeaseRequest",
    to="cancelLeaseRequest",
    parameters={
        "projectId": "$request.path.projectId",
        "requestId": "$response.body#/requestId",
    },
    description="Withdraw the request just queued.",
)
link(
    "cancelLeaseRequest",
    200,
    "getProjectLeaseRequest",
    to="getProjectLeaseRequest",
    parameters={
        "projectId": "$request.path.projectId",
        "requestId": "$response.body#/requestId",
    },
    description="Read the request as the cancel left it.",
)

lease_status_param = OpenApiParameter(
    "status",
    str,
    enum=LeaseStatus.values,
    description="`assigned` (default) or `disconnected`.",
)


class LeaseRequestCreateView(PartnerAPIView):
    """Queue a request for warmed accounts."""

    required_scopes = {"POST": Scope.LEASED_WRITE}

    @extend_schema(
        operation_id="requestLease",
        summary="Request leased accounts",
        description=(
            "Ask for warmed TikTok accounts in a niche. The request joins the ops queue; "
            "accounts appear under leased accounts once ops assigns them. Billed "
            "$150/account/month on assignment, never on request. Poll the URL in "
            "`Location`. The same `Idempotency-Key` and body replay the first answer "
            "for 24 hours."
        ),
        request=LeaseRequestIn,
        parameters=[idempotency_key_header],
        responses={
            202: LeaseRequestAccepted,
            **error_responses(401, 402, 403, 404, 409, 422, 429),
        },
        tags=["Leased accounts"],
    )
    @idempotent(in_statement=True)
    def post(self, request, project_id):
        payload = validated(LeaseRequestIn, request.data, project_id=project_id)
        lease_request = requests.lease_request_build(
            organization_id=request.auth.organization_id,
            project_id=project_id,
            api_key=request.auth,
            payload=payload,
        )
        location = request.build_absolute_uri(
            reverse(
                "lease-request-detail",
                kwargs={"project_id": project_id, "request_id": lease_request.public_id},
            )
        )
        # Rendered before the row is queued: the Idempotency-Key's claim, stored in the
        # statement that queues it, holds these exact bytes.
        response = rendered(
            self,
            Response(
                LeaseRequestAccepted(lease_request).data,
                status=202,
                headers={"Location": location},
            ),
        )
        claim = getattr(request, "idempotency_claim", None)
        submit.lease_request_submit(
            lease_request=lease_request,
            api_key=request.auth,
            claim=partial(claim.insert_sql, response) if claim else None,
        )
        return response


class LeaseRequestListView(PartnerAPIView):
    """A project's lease requests, newest first."""

    required_scopes = READ

    @extend_schema(
        operation_id="listLeaseRequests",
        summary="List a project's lease requests",
        description="Newest first. Filter with `status`.",
        parameters=[request_status_param, *page_parameters],
        responses={200: LeaseRequestPage, **error_responses(401, 403, 404, 422, 429)},
        tags=["Leased accounts"],
    )
    def get(self, request, project_id):
        project = selectors.project_get(
            organization_id=request.auth.organization_id, project_id=project_id
        )
        queryset = selectors.lease_request_list(
            project=project, status=request.query_params.get("status")
        )
        return Response(
            paginate(
                queryset,
                request.query_params,
                lambda r: LeaseRequestOut(r).data,
                keys=("submitted_at", "public_id"),
            )
        )


class LeaseRequestDetailView(PartnerAPIView):
    """One lease request: status, assigned accounts and the latest note from ops."""

    required_scopes = READ

    @extend_schema(
        operation_id="getProjectLeaseRequest",
        summary="Get a lease request of a project",
        responses={200: LeaseRequestOut, **error_responses(401, 403, 404, 429)},
        tags=["Leased accounts"],
    )
    def get(self, request, request_id, project_id=None):
        lease_request = selectors.lease_request_get(
            organization_id=request.auth.organization_id,
            request_id=request_id,
            project_id=project_id,
        )
        return Response(LeaseRequestOut(lease_request).data)


class OrgLeaseRequestDetailView(LeaseRequestDetailView):
    """One lease request, found across every project of the organization."""

    @extend_schema(
        operation_id="getLeaseRequest",
        summary="Get a lease request (any project of your organization)",
        responses={200: LeaseRequestOut, **error_responses(401, 403, 404, 429)},
        tags=["Leased accounts"],
    )
    def get(self, request, request_id):
        return super().get(request, request_id=request_id)


class LeasedAccountListView(PartnerAPIView):
    """Accounts leased to a project: `assigned` (default) or `disconnected`."""

    required_scopes = READ

    @extend_schema(
        operation_id="listProjectLeasedAccounts",
        summary="List a project's leased accounts",
        parameters=[lease_status_param, *page_parameters],
        responses={200: LeasedAccountPage, **error_responses(401, 403, 404, 422, 429)},
        tags=["Leased accounts"],
    )
    def get(self, request, project_id=None):
        organization_id = request.auth.organization_id
        project = (
            selectors.project_get(organization_id=organization_id, project_id=project_id)
            if project_id is not None
            else None
        )
        queryset = selectors.lease_list(
            organization_id=organization_id,
            project=project,
            status=request.query_params.get("status"),
        )
        return Response(
            paginate(
                queryset,
                request.query_params,
                lambda lease: LeasedAccountOut(lease).data,
                keys=("assigned_at", "social_account_id"),
            )
        )


class OrgLeasedAccountListView(LeasedAccountListView):
    """Accounts leased to any project of the organization."""

    @extend_schema(
        operation_id="listLeasedAccounts",
        summary="List leased accounts across your organization",
        parameters=[lease_status_param, *page_parameters],
        responses={200: LeasedAccountPage, **error_responses(401, 403, 422, 429)},
        tags=["Leased accounts"],
    )
    def get(self, request):
        return super().get(request)


class LeaseRequestCancelView(PartnerAPIView):
    """The partner withdraws a request."""

    required_scopes = {"POST": Scope.LEASED_WRITE}

    @extend_schema(
        operation_id="cancelLeaseRequest",
        summary="Cancel a lease request",
        description=(
            "Withdraw a request ops are still working. It becomes `cancelled`, or "
            "`partial` if some accounts were already assigned: those stay leased and "
            "billed (release them one by one). Nothing is charged or refunded. Cancelling "
            "a request already `cancelled` answers it again (200); any other final status "
            "is 409. No body. The same `Idempotency-Key` replays the first answer for 24 "
            "hours, so a retried cancel that closed a request as `partial` answers the same."
        ),
        request=None,
        parameters=[idempotency_key_header],
        responses={
            200: LeaseRequestOut,
            **error_responses(401, 403, 404, 422, 429),
            409: OpenApiResponse(
                ErrorEnvelope,
                description="`CONFLICT`: the request is already assigned, partial or "
                "rejected (the message says which); or the Idempotency-Key was reused with "
                "another request.",
            ),
        },
        tags=["Leased accounts"],
    )
    @idempotent
    def post(self, request, project_id, request_id):
        organization_id = request.auth.organization_id
        lease_request = selectors.lease_request_get(
            organization_id=organization_id, request_id=request_id, project_id=project_id
        )
        try:
            lease_request = requests.lease_request_cancel(
                lease_request=lease_request, api_key=request.auth
            )
        except RequestClosed as closed:
            # The status the service met under the lock, not the one read above.
            raise Conflict(
                str(closed), details=[{"field": "status", "message": closed.lease_request.status}]
            ) from None
        lease_request = selectors.lease_request_partner_view(lease_request=lease_request)
        location = request.build_absolute_uri(
            reverse(
                "lease-request-detail",
                kwargs={"project_id": project_id, "request_id": lease_request.public_id},
            )
        )
        return Response(LeaseRequestOut(lease_request).data, headers={"Location": location})


class LeasedAccountReleaseView(PartnerAPIView):
    """The partner gives a leased account back."""

    required_scopes = {"DELETE": Scope.LEASED_WRITE}

    @extend_schema(
        operation_id="releaseLeasedAccount",
        summary="Release a leased account",
        description=(
            "End the lease now: the account is disconnected and never renewed again. "
            "Nothing is refunded: the month already paid runs out. Releasing an account "
            "you already released answers the same body again (200); a lease ended "
            "otherwise (`unpaid`, `ops`) is 409."
        ),
        responses={
            200: LeaseReleased,
            **error_responses(401, 403, 429),
            404: OpenApiResponse(
                ErrorEnvelope,
                description="`NOT_FOUND`: the account was never leased to your organization.",
            ),
            409: OpenApiResponse(
                ErrorEnvelope,
                description="`CONFLICT`: the lease already ended unpaid or by ops (the "
                "message says when and why).",
            ),
        },
        tags=["Leased accounts"],
    )
    def delete(self, request, social_account_id):
        lease = selectors.lease_for_release(
            organization_id=request.auth.organization_id, social_account_id=social_account_id
        )
        try:
            lease = leases.lease_release(lease=lease)
        except leases.LeaseEnded as ended:
            raise Conflict(
                str(ended),
                details=[
                    {"field": "disconnectedReason", "message": ended.lease.disconnected_reason}
                ],
            ) from None
        return Response(LeaseReleased(lease).data)
