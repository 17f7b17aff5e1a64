"""The product's URLs plus two endpoints under /v1 that raise what Django raises when it
cannot read a request: one a partner (DRF) view, one a plain Django view."""

from django.core import exceptions as django_exceptions
from django.http import UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.urls import path

from layers_ops import urls as product
from layers_ops.api.permissions import ANY_KEY
from layers_ops.api.views import PartnerAPIView

RAISED = {
    "too-many-fields": django_exceptions.TooManyFieldsSent("Too many fields."),
    "too-many-files": django_exceptions.TooManyFilesSent("Too many files."),
    "too-big": django_exceptions.RequestDataTooBig("Too big."),
    "suspicious": django_exceptions.SuspiciousOperation("Odd."),
    "suspicious-file": django_exceptions.SuspiciousFileOperation("Odd path."),
    "disallowed-host": django_exceptions.DisallowedHost("Bad host."),
    "bad-request": django_exceptions.BadRequest("Bad."),
    "multipart": MultiPartParserError("Broken multipart."),
    "unreadable": UnreadablePostError("Connection reset."),
}


class Raising(PartnerAPIView):
    required_scopes = {"GET": ANY_KEY}

    def get(self, request, name):
        raise RAISED[name]


def raising(request, name):
    raise RAISED[name]


urlpatterns = [
    path("v1/raising/api/<str:name>", Raising.as_view()),
    path("v1/raising/plain/<str:name>", raising),
    *product.urlpatterns,
]

handler400 = product.handler400
handler404 = product.handler404
handler500 = product.handler500
