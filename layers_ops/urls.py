"""The root URLconf: the only place that names every app's URLs."""

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularJSONAPIView, SpectacularRedocView

from layers_ops.api import views as api_views

v1 = [
    path("whoami", api_views.WhoAmIView.as_view(), name="whoami"),
    path("", include("leasing.urls")),
    path(
        "openapi.json",
        SpectacularJSONAPIView.as_view(
            authentication_classes=[], permission_classes=[], throttle_classes=[]
        ),
        name="openapi",
    ),
    re_path(r"^.*$", api_views.not_found),
]

urlpatterns = [
    path("v1/", include(v1)),
    path(
        "docs/",
        SpectacularRedocView.as_view(
            url_name="openapi", authentication_classes=[], permission_classes=[]
        ),
        name="docs",
    ),
    path("admin/", admin.site.urls),
]

handler404 = "layers_ops.api.views.not_found"
handler500 = "layers_ops.api.views.server_error"
