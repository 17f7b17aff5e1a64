"""Every product URL, plus the benchmark's baseline endpoint."""

from django.urls import path

from layers_ops import urls as product

from .baseline import BaselineLeaseRequestView

urlpatterns = [
    path("bench/baseline", BaselineLeaseRequestView.as_view(), name="bench-baseline"),
    *product.urlpatterns,
]

handler404 = product.handler404
handler500 = product.handler500
