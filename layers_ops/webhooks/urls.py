from django.urls import path

from . import views

urlpatterns = [
    path("webhook-endpoints", views.EndpointListView.as_view(), name="webhook-endpoints"),
    path(
        "webhook-endpoints/<public_id:endpoint_id>",
        views.EndpointDetailView.as_view(),
        name="webhook-endpoint",
    ),
    path(
        "webhook-endpoints/<public_id:endpoint_id>/rotate-secret",
        views.EndpointRotateView.as_view(),
        name="webhook-endpoint-rotate",
    ),
    path(
        "webhook-endpoints/<public_id:endpoint_id>/test",
        views.EndpointTestView.as_view(),
        name="webhook-endpoint-test",
    ),
    path("webhook-deliveries", views.DeliveryListView.as_view(), name="webhook-deliveries"),
    path(
        "webhook-deliveries/<public_id:delivery_id>",
        views.DeliveryDetailView.as_view(),
        name="webhook-delivery",
    ),
    path(
        "webhook-deliveries/<public_id:delivery_id>/replay",
        views.DeliveryReplayView.as_view(),
        name="webhook-delivery-replay",
    ),
]
