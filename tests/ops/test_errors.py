"""Sentry: off without SENTRY_DSN; with one, an unhandled error is reported with its
request id and without the key (through a local transport: nothing leaves the machine)."""

import uuid

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from layers_ops.api.views import WhoAmIView
from layers_ops.ops.errors import sentry_init

pytestmark = pytest.mark.django_db


class Captured(Transport):
    def __init__(self):
        super().__init__()
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)


def test_sentry_is_off_without_a_dsn(settings):
    assert settings.SENTRY_DSN == ""
    assert not sentry_sdk.get_client().is_active()


def test_an_unhandled_error_reaches_sentry_without_the_key(partner, monkeypatch):
    transport = Captured()
    cookie = uuid.uuid4().hex
    sentry_init(dsn="http://public@127.0.0.1:9/1", transport=transport)
    try:

        def broken(self, request, *args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(WhoAmIView, "get", broken)
        response = partner.client.get("/v1/whoami", HTTP_COOKIE=f"sessionid={cookie}")
        assert response.status_code == 500
        sentry_sdk.flush()
    finally:
        sentry_sdk.init(dsn=None)
    events = [
        item.payload.json
        for envelope in transport.envelopes
        for item in envelope.items
        if item.type == "event"
    ]
    assert events, "no event reached the transport"
    text = repr(events)
    assert "boom" in text
    assert response["X-Request-Id"] in text
    for material in (partner.token, partner.token.rsplit("_", 1)[1], cookie):
        assert material not in text
