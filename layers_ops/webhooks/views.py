"""Partner API views for webhooks: validate, call one service or selector, render.

Every endpoint needs the ``webhooks:write`` scope, reads included (the list shows where
an organization's events go).
"""

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from layers_ops.api.converters import PublicIdConverter
from layers_ops.api.exceptions import Conflict, ValidationFailed
from layers_ops.api.fields import validated
from layers_ops.api.idempotency import idempotent
from layers_ops.api.pagination import paginate
from layers_ops.api.schema import (
    ErrorEnvelope,
    error_responses,
    idempotency_key_header,
    page_parameters,
)
from layers_ops.api.views import PartnerAPIView
from layers_ops.partners.models import Scope

from . import selectors, services
from .models import DeliveryStatus, EndpointStatus
from .serializers import (
    DeliveryOut,
    DeliveryPage,
    EndpointCreated,
    EndpointIn,
    EndpointOut,
    EndpointPage,
    EndpointPatch,
    ReplayOut,
    SecretRotated,
)

WRITE = Scope.WEBHOOKS_WRITE
TAGS = ["Webhooks"]

endpoint_status_param = OpenApiParameter(
    "status", str, enum=EndpointStatus.values, description="Only endpoints in this status."
)
# Ids as the paths take them (``PublicIdConverter``): anything else matches nothing.
PUBLIC_ID = {"type": "string", "pattern": f"^{PublicIdConverter.regex}$"}
project_param = OpenApiParameter(
    "projectId", PUBLIC_ID, description="Only this project's endpoints."
)
endpoint_param = OpenApiParameter(
    "endpointId", PUBLIC_ID, description="Only this endpoint's deliveries."
)
delivery_status_param = OpenApiParameter(
    "status", str, enum=DeliveryStatus.values, description="Only deliveries in this status."
)
not_active = OpenApiResponse(
    ErrorEnvelope, description="`CONFLICT`: the endpoint is paused; set it active first."
)


def _project_refused(refusal) -> ValidationFailed:
    return ValidationFailed(details=[{"field": "projectId", "message": str(refusal)}])


def _delivery_location(request, delivery) -> dict:
    url = reverse("webhook-delivery", kwargs={"delivery_id": delivery.pk})
    return {"Location": request.build_absolute_uri(url)}


def _endpoint_location(request, endpoint) -> dict:
    url = reverse("webhook-endpoint", kwargs={"endpoint_id": endpoint.pk})
    return {"Location": request.build_absolute_uri(url)}


def _sent_responses(serializer) -> dict:
    """What an operation that sends to an endpoint answers: 202, or 409 when paused."""
    return {202: serializer, **error_responses(401, 403, 404, 422, 429), 409: not_active}


def _sent(service, **kwargs):
    """Calls a service that sends to an endpoint; a paused one is 409 ``CONFLICT``."""
    try:
        return service(**kwargs)
    except services.EndpointNotActive as refused:
        raise Conflict(str(refused)) from None


class EndpointListView(PartnerAPIView):
    """The organization's webhook endpoints, and new ones."""

    required_scopes = {"GET": WRITE, "POST": WRITE}

    @extend_schema(
        operation_id="listWebhookEndpoints",
        summary="List webhook endpoints",
        description="Newest first. Filter with `status` and `projectId`.",
        parameters=[endpoint_status_param, project_param, *page_parameters],
        responses={200: EndpointPage, **error_responses(401, 403, 422, 429)},
        tags=TAGS,
    )
    def get(self, request):
        endpoints = selectors.endpoint_list(
            organization_id=request.auth.organization_id,
            status=request.query_params.get("status"),
            project_id=request.query_params.get("projectId"),
        )
        return Response(
            paginate(
                endpoints,
                request.query_params,
                lambda e: EndpointOut(e).data,
                keys=("created_at", "id"),
            )
        )

    @extend_schema(
        operation_id="createWebhookEndpoint",
        summary="Create a webhook endpoint",
        description=(
            "Layers POSTs the events you name to `url`, signed with the `signingSecret` "
            "this answer shows once. The same `Idempotency-Key` and body replay the first "
            "answer for 24 hours."
        ),
        request=EndpointIn,
        parameters=[idempotency_key_header],
        responses={201: EndpointCreated, **error_responses(401, 403, 409, 422, 429)},
        tags=TAGS,
    )
    @idempotent
    def post(self, request):
        payload = validated(EndpointIn, request.data)
        try:
            endpoint = services.endpoint_create(
                organization=request.auth.organization,
                url=payload["url"],
                events=payload["events"],
                description=payload.get("description", ""),
                project_id=payload.get("projectId"),
                metadata=payload.get("metadata"),
            )
        except services.ProjectUnknown as refused:
            raise _project_refused(refused) from None
        location = request.build_absolute_uri(
            reverse("webhook-endpoint", kwargs={"endpoint_id": endpoint.pk})
        )
        return Response(EndpointCreated(endpoint).data, status=201, headers={"Location": location})


class EndpointDetailView(PartnerAPIView):
    """One webhook endpoint: read, change or delete it."""

    required_scopes = {"GET": WRITE, "PATCH": WRITE, "DELETE": WRITE}

    def _endpoint(self, request, endpoint_id):
        return selectors.endpoint_get(
            organization_id=request.auth.organization_id, endpoint_id=endpoint_id
        )

    @extend_schema(
        operation_id="getWebhookEndpoint",
        summary="Get a webhook endpoint",
        responses={200: EndpointOut, **error_responses(401, 403, 404, 429)},
        tags=TAGS,
    )
    def get(self, request, endpoint_id):
        return Response(EndpointOut(self._endpoint(request, endpoint_id)).data)

    @extend_schema(
        operation_id="updateWebhookEndpoint",
        summary="Change a webhook endpoint",
        description=(
            "Change `url`, `events`, `description` or `status`. `paused` stops deliveries; "
            "`active` resumes a paused or auto-paused endpoint and sends what waited."
        ),
        request=EndpointPatch,
        responses={200: EndpointOut, **error_responses(401, 403, 404, 422, 429)},
        tags=TAGS,
    )
    def patch(self, request, endpoint_id):
        endpoint = self._endpoint(request, endpoint_id)
        changes = validated(EndpointPatch, request.data)
        endpoint = services.endpoint_update(endpoint=endpoint, changes=changes)
        return Response(EndpointOut(endpoint).data)

    @extend_schema(
        operation_id="deleteWebhookEndpoint",
        summary="Delete a webhook endpoint",
        description="Nothing more is sent to it, pending deliveries included.",
        responses={204: None, **error_responses(401, 403, 404, 429)},
        tags=TAGS,
    )
    def delete(self, request, endpoint_id):
        services.endpoint_delete(endpoint=self._endpoint(request, endpoint_id))
        return Response(status=204)


class EndpointRotateView(PartnerAPIView):
    """A new signing secret for an endpoint."""

    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="rotateWebhookSecret",
        summary="Rotate an endpoint's signing secret",
        description=(
            "A new secret signs from now on. For 24 hours every delivery carries a second "
            "`v1=` signature by the old one, so your receiver can switch without missing "
            "one."
        ),
        request=None,
        parameters=[idempotency_key_header],
        responses={200: SecretRotated, **error_responses(401, 403, 404, 409, 422, 429)},
        tags=TAGS,
    )
    @idempotent
    def post(self, request, endpoint_id):
        endpoint = selectors.endpoint_get(
            organization_id=request.auth.organization_id, endpoint_id=endpoint_id
        )
        endpoint = services.endpoint_secret_rotate(endpoint=endpoint)
        location = _endpoint_location(request, endpoint)
        return Response(SecretRotated(endpoint).data, headers=location)


class EndpointTestView(PartnerAPIView):
    """A test event to one endpoint."""

    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="testWebhookEndpoint",
        summary="Send a test.ping to an endpoint",
        description="A `test.ping` event (its `data` is the endpoint), to this endpoint only.",
        request=None,
        parameters=[idempotency_key_header],
        responses=_sent_responses(DeliveryOut),
        tags=TAGS,
    )
    @idempotent
    def post(self, request, endpoint_id):
        endpoint = selectors.endpoint_get(
            organization_id=request.auth.organization_id, endpoint_id=endpoint_id
        )
        delivery = _sent(services.endpoint_ping, endpoint=endpoint, data=EndpointOut(endpoint).data)
        return Response(
            DeliveryOut(delivery).data, status=202, headers=_delivery_location(request, delivery)
        )


class DeliveryListView(PartnerAPIView):
    """Deliveries of the organization's events to its endpoints."""

    required_scopes = {"GET": WRITE}

    @extend_schema(
        operation_id="listWebhookDeliveries",
        summary="List webhook deliveries",
        description="Newest first. Filter with `endpointId` and `status`.",
        parameters=[endpoint_param, delivery_status_param, *page_parameters],
        responses={200: DeliveryPage, **error_responses(401, 403, 422, 429)},
        tags=TAGS,
    )
    def get(self, request):
        deliveries = selectors.delivery_list(
            organization_id=request.auth.organization_id,
            endpoint_id=request.query_params.get("endpointId"),
            status=request.query_params.get("status"),
        )
        return Response(
            paginate(
                deliveries,
                request.query_params,
                lambda d: DeliveryOut(d).data,
                keys=("created_at", "id"),
            )
        )


class DeliveryDetailView(PartnerAPIView):
    """One delivery: its status, attempts and next attempt."""

    required_scopes = {"GET": WRITE}

    @extend_schema(
        operation_id="getWebhookDelivery",
        summary="Get a webhook delivery",
        responses={200: DeliveryOut, **error_responses(401, 403, 404, 429)},
        tags=TAGS,
    )
    def get(self, request, delivery_id):
        delivery = selectors.delivery_get(
            organization_id=request.auth.organization_id, delivery_id=delivery_id
        )
        return Response(DeliveryOut(delivery).data)


class DeliveryReplayView(PartnerAPIView):
    """A delivery's event, sent again."""

    required_scopes = {"POST": WRITE}

    @extend_schema(
        operation_id="replayWebhookDelivery",
        summary="Send a delivery's event again",
        description=(
            "The same `data` as a new event (new `evt_` id, top-level `replayOf`: the "
            "original event's id), to the same endpoint."
        ),
        request=None,
        parameters=[idempotency_key_header],
        responses=_sent_responses(ReplayOut),
        tags=TAGS,
    )
    @idempotent
    def post(self, request, delivery_id):
        delivery = selectors.delivery_get(
            organization_id=request.auth.organization_id, delivery_id=delivery_id
        )
        replay = _sent(services.delivery_replay, delivery=delivery)
        return Response(
            ReplayOut(replay).data, status=202, headers=_delivery_location(request, replay)
        )
