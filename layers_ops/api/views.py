import sys

from django.http import HttpResponse
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularJSONAPIView
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from .exceptions import (
    ApiError,
    BadRequest,
    NotFound,
    database_unavailable,
    error_response,
    request_refusal,
)
from .middleware import is_api
from .permissions import ANY_KEY
from .renderers import JSONRenderer
from .schema import error_responses


class PartnerAPIView(APIView):
    """Base of every partner endpoint: the key, then its rate limit, then its scope.

    DRF checks permissions before throttles; here the budget is spent (and reported in
    the headers) for any valid key, so a 403 carries the X-RateLimit-* headers too.

    ``required_scopes`` names the scope of each method the view serves (``ANY_KEY`` for
    any valid key); HEAD takes GET's, and a served method left out is refused
    (``permissions.HasScope``).
    """

    required_scopes: dict[str, str] = {}

    # No DRF metadata answer to OPTIONS: 405 like any method the endpoint does not serve,
    # and never named in an Allow header.
    http_method_names = [m for m in APIView.http_method_names if m != "options"]

    def check_permissions(self, request):
        if request.auth is not None:
            super().check_throttles(request)
        super().check_permissions(request)
        # The throttle may have read a body (or Idempotency-Key) it could not accept; DRF
        # would hand the view an empty body on a second read, so the refusal is raised here.
        refused = getattr(request, "refused_input", None)
        if refused is not None:
            raise refused

    def check_throttles(self, request):
        """Already done in check_permissions, before the scope is checked."""


WhoAmI = inline_serializer(
    "WhoAmI",
    {
        "organizationId": serializers.CharField(),
        "organizationName": serializers.CharField(),
        "apiKeyId": serializers.CharField(),
        "scopes": serializers.ListField(child=serializers.CharField()),
        "rateLimitTier": serializers.CharField(),
        "environment": serializers.ChoiceField(
            choices=["live", "test"],
            help_text="`test` for an `lp_test_` key: test mode, its own data and sandbox wallet.",
        ),
    },
)


class WhoAmIView(PartnerAPIView):
    """The organization, key id, scopes, rate-limit tier and mode of the calling key."""

    required_scopes = {"GET": ANY_KEY}

    @extend_schema(
        operation_id="whoami",
        summary="Who this API key is",
        responses={200: WhoAmI, **error_responses(401, 429)},
        tags=["Keys"],
    )
    def get(self, request):
        api_key = request.auth
        return Response(
            {
                "organizationId": api_key.organization_id,
                "organizationName": api_key.organization.name,
                "apiKeyId": api_key.pk,
                "scopes": api_key.scopes,
                "rateLimitTier": api_key.rate_limit_tier,
                "environment": api_key.environment,
            }
        )


@csrf_exempt  # partners hold no CSRF cookie: a POST to an unknown path is a 404 as well
def not_found(request, exception=None) -> HttpResponse:
    """Any /v1 path no endpoint answers, whatever the method; elsewhere Django's own page."""
    if is_api(request):
        return error_response(request, NotFound("No such endpoint."))
    return defaults.page_not_found(request, exception)


def bad_request(request, exception=None) -> HttpResponse:
    """Django refused the request before any view (e.g. a Host not in ALLOWED_HOSTS)."""
    if is_api(request):
        return error_response(request, request_refusal(exception) or BadRequest())
    return defaults.bad_request(request, exception)


def server_error(request) -> HttpResponse:
    """An exception escaped outside any view (in a middleware): Django calls this while
    handling it, so ``sys.exc_info()`` holds the exception."""
    if is_api(request):
        return error_response(request, database_unavailable(sys.exc_info()[1]) or ApiError())
    return defaults.server_error(request)


class OpenApiDocumentView(SpectacularJSONAPIView):
    """The OpenAPI document; its errors (405 for a POST) are the JSON envelope, not OpenAPI."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = []
    metadata_class = None

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if response.status_code >= 400 and isinstance(response, Response):
            response.accepted_renderer = JSONRenderer()
            response.accepted_media_type = JSONRenderer.media_type
        return response
