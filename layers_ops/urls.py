"""The root URLconf: the only place that names every app's URLs."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularRedocView

from layers_ops.api import views as api_views
from layers_ops.ops import health, metrics

v1 = [
    path("whoami", api_views.WhoAmIView.as_view(), name="whoami"),
    path("", include("leasing.urls")),
    path("", include("billing.urls")),
    path("", include("layers_ops.webhooks.urls")),
    path("openapi.json", api_views.OpenApiDocumentView.as_view(), name="openapi"),
    re_path(r"^.*$", api_views.not_found),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("v1", api_views.not_found),  # not a redirect to /v1/: an API answers JSON
    path("v1/", include(v1)),
    path(
        "docs/",
        SpectacularRedocView.as_view(
            url_name="openapi", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
    path("admin/", admin.site.urls),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
]

handler400 = "layers_ops.api.views.bad_request"
handler404 = "layers_ops.api.views.not_found"
handler500 = "layers_ops.api.views.server_error"
handler403 = "layers_ops.admin_display.permission_denied"
