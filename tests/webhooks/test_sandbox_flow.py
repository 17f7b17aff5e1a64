"""Test mode end to end over HTTP: a request made with an lp_test_ key fulfils itself
through the job engine and the twin's webhook endpoint receives the signed event a live
fulfilment sends; the live wallet and the ops queue never notice."""

import json

import pytest

from billing.selectors import wallet_balance_cents
from layers_ops.webhooks.signing import signature_verify
from leasing.queue_panel import queue_panel
from tests.conftest import lease_body, make_partner, request_url
from tests.jobs.worker import jobs_run
from tests.leasing.test_sandbox import sandbox_of

from .conftest import deliveries_run


@pytest.mark.django_db(transaction=True)
def test_a_test_mode_request_runs_end_to_end(receiver, private_urls, settings):
    settings.SANDBOX_FULFIL_SECONDS = 0
    partner = make_partner()
    sandbox = sandbox_of(partner)
    live_before = wallet_balance_cents(organization_id=partner.organization.pk)
    sandbox_before = wallet_balance_cents(organization_id=sandbox.organization.pk)
    receiver.expect_request("/hooks", method="POST").respond_with_data("ok")
    created = sandbox.client.post(
        "/v1/webhook-endpoints",
        {"url": receiver.url_for("/hooks"), "events": ["lease_request.assigned"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    secret = created.json()["signingSecret"]

    asked = sandbox.client.post(
        request_url(sandbox.project.pk),
        lease_body(sandbox.project.pk, count=3),
        format="json",
        HTTP_X_API_KEY=sandbox.token,
    )
    assert asked.status_code == 202
    request_id = asked.json()["requestId"]
    assert queue_panel().open_requests == 0

    jobs_run(queues=["maintenance"])
    deliveries_run()

    ((hook, _),) = receiver.log
    event = json.loads(hook.data)
    assert event["type"] == "lease_request.assigned"
    assert event["data"]["requestId"] == request_id
    assert event["data"]["status"] == "assigned"
    assert signature_verify(
        header=hook.headers["X-Layers-Signature"], body=hook.data, secret=secret
    )
    listed = sandbox.client.get(f"/v1/projects/{sandbox.project.pk}/leased-accounts").json()
    assert len(listed["items"]) == 3
    assert all(item["socialAccountId"].startswith("sa_") for item in listed["items"])
    wallet = sandbox.client.get("/v1/wallet").json()
    assert wallet["balanceCents"] == sandbox_before - 3 * settings.LEASE_PRICE_CENTS
    assert wallet["activeLeases"] == 3
    assert wallet_balance_cents(organization_id=partner.organization.pk) == live_before
    assert partner.client.get("/v1/leased-accounts").json()["items"] == []
    assert queue_panel().open_requests == 0
