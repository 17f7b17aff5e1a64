"""HEAD is GET without the body: authorised, rate-limited and answered exactly as GET.

Django hands HEAD to ``get()``; the scope of an endpoint is named for GET, and HEAD
takes it from there in the one permission class, so no endpoint can forget it.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from billing.selectors import FINANCE_TZ
from layers_ops.api.views import PartnerAPIView
from layers_ops.partners.models import RateLimitTier, Scope
from layers_ops.webhooks.models import WebhookEndpoint
from layers_ops.webhooks.services import endpoint_ping, secret_new
from tests.api.test_auth_and_errors import assert_envelope
from tests.factories import LeaseFactory, LeaseRequestFactory

pytestmark = pytest.mark.django_db


def partner_views(patterns=None):
    """(url name, view class, path converters) of every partner endpoint in the URLconf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(entry, URLResolver):
            yield from partner_views(entry.url_patterns)
        elif isinstance(entry, URLPattern):
            view_class = getattr(entry.callback, "view_class", None)
            if view_class is not None and issubclass(view_class, PartnerAPIView):
                yield entry.name, view_class, set(entry.pattern.converters)


def get_endpoints(partner):
    """The URL of every GET endpoint, filled with real ids of ``partner`` (so a 200
    would carry real data)."""
    lease = LeaseFactory(lease_request=LeaseRequestFactory(project=partner.project, count=1))
    endpoint = WebhookEndpoint.objects.create(
        organization=partner.organization,
        url="https://hooks.example.com/layers",
        events=["lease.past_due"],
        secret=secret_new(),
    )
    delivery = endpoint_ping(endpoint=endpoint, data={})
    ids = {
        "endpoint_id": endpoint.pk,
        "delivery_id": delivery.pk,
        "project_id": partner.project.pk,
        "request_id": lease.lease_request.public_id,
        "social_account_id": lease.social_account_id,
        "month": timezone.now().astimezone(FINANCE_TZ).strftime("%Y-%m"),
    }
    endpoints = []
    for name, view_class, converters in partner_views():
        if "get" in view_class.http_method_names and hasattr(view_class, "get"):
            url = reverse(name, kwargs={c: ids[c] for c in converters})
            endpoints.append(url)
    return endpoints


def test_the_sweep_finds_every_documented_get_endpoint(partner):
    urls = set(get_endpoints(partner))
    project = f"/v1/projects/{partner.project.pk}"

    assert {"/v1/whoami", "/v1/wallet", "/v1/wallet/ledger", "/v1/leased-accounts"} <= urls
    assert {f"{project}/leased-accounts", f"{project}/leased-accounts/requests"} <= urls
    assert {"/v1/webhook-endpoints", "/v1/webhook-deliveries"} <= urls


def test_head_with_a_key_lacking_the_scope_is_403_and_leaks_no_length(partner):
    webhooks_only = partner.client_with(Scope.WEBHOOKS_WRITE)
    billing_only = partner.client_with(Scope.BILLING_READ)

    for url in get_endpoints(partner):
        if url == "/v1/whoami":  # any valid key may ask who it is
            continue
        lacking = billing_only if url.startswith("/v1/webhook-") else webhooks_only
        refused_get = lacking.get(url)
        head = lacking.head(url)

        assert_envelope(refused_get, 403, "FORBIDDEN_SCOPE")
        assert head.status_code == 403, url
        assert head.content == b"", url
        # The length is the refusal's, never the data's.
        assert head["Content-Length"] == refused_get["Content-Length"], url
        assert head["Content-Type"] == "application/json"
        assert head["X-Request-Id"].startswith("req_")


def test_head_with_the_right_key_answers_as_get_without_the_body(partner):
    for url in get_endpoints(partner):
        get, head = partner.client.get(url), partner.client.head(url)

        assert (head.status_code, get.status_code) == (200, 200), url
        assert head.content == b"", url
        assert head["Content-Length"] == get["Content-Length"], url
        assert head["Content-Type"] == get["Content-Type"]


def test_head_without_a_key_is_401(client):
    response = client.head("/v1/wallet")

    assert response.status_code == 401
    assert response.content == b""


def test_head_spends_the_read_budget(partner):
    client = partner.client_with(Scope.BILLING_READ, tier=RateLimitTier.STANDARD)

    first = client.head("/v1/wallet")
    second = client.get("/v1/wallet")

    assert first["X-RateLimit-Endpoint-Class"] == "read"
    assert first["X-RateLimit-Limit"] == "120"
    assert int(first["X-RateLimit-Remaining"]) == int(second["X-RateLimit-Remaining"]) + 1


def test_every_partner_view_names_a_scope_for_each_method_it_serves():
    for name, view_class, _ in partner_views():
        served = {
            m.upper()
            for m in view_class.http_method_names
            if m not in ("head", "options") and hasattr(view_class, m)
        }
        assert served <= set(view_class.required_scopes), name
        assert "HEAD" not in view_class.required_scopes, name  # HEAD is GET's, always


class _Forgetful(PartnerAPIView):
    required_scopes = {"GET": Scope.LEASED_READ}

    def get(self, request):
        return Response({"secret": "read"})

    def put(self, request):  # served, but named nowhere in required_scopes
        return Response({"secret": "written"})


def test_a_method_the_view_names_no_scope_for_is_refused_even_to_a_full_key(partner):
    request = APIRequestFactory().put(
        "/v1/forgetful", {}, format="json", HTTP_AUTHORIZATION=f"Bearer {partner.token}"
    )

    response = _Forgetful.as_view()(request)

    assert response.status_code == 403
    assert response.data["error"]["code"] == "FORBIDDEN_SCOPE"
    assert "secret" not in response.data


def test_whoami_still_answers_any_valid_key_by_get_and_head(partner):
    webhooks_only = partner.client_with(Scope.WEBHOOKS_WRITE)

    assert webhooks_only.get("/v1/whoami").status_code == 200
    assert webhooks_only.head("/v1/whoami").status_code == 200
