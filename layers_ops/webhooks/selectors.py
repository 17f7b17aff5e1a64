"""Reads of webhooks, always within the caller's organization (another's is 404)."""

from layers_ops.api.exceptions import NotFound
from layers_ops.api.query import query_choice, query_public_id

from .models import DeliveryStatus, EndpointStatus, WebhookDelivery, WebhookEndpoint


def endpoint_get(*, organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(
        organization_id=organization_id, pk=endpoint_id
    ).first()
    if endpoint is None:
        raise NotFound("No webhook endpoint with this id in your organization.")
    return endpoint


def endpoint_list(*, organization_id: str, status=None, project_id=None):
    status = query_choice("status", status, EndpointStatus.values)
    project_id = query_public_id("projectId", project_id)
    endpoints = WebhookEndpoint.objects.filter(organization_id=organization_id)
    if status:
        endpoints = endpoints.filter(status=status)
    if project_id:
        endpoints = endpoints.filter(project_id=project_id)
    return endpoints


def delivery_list(*, organization_id: str, endpoint_id=None, status=None):
    status = query_choice("status", status, DeliveryStatus.values)
    endpoint_id = query_public_id("endpointId", endpoint_id)
    deliveries = WebhookDelivery.objects.filter(
        endpoint__organization_id=organization_id
    ).select_related("event")
    if endpoint_id:
        deliveries = deliveries.filter(endpoint_id=endpoint_id)
    if status:
        deliveries = deliveries.filter(status=status)
    return deliveries


def delivery_get(*, organization_id: str, delivery_id: str) -> WebhookDelivery:
    delivery = (
        delivery_list(organization_id=organization_id)
        .select_related("endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None:
        raise NotFound("No webhook delivery with this id in your organization.")
    return delivery
