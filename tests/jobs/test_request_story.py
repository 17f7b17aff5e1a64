"""One request id finds a request's whole story: the web line and the line of each job
it deferred carry the same ``requestId``."""

import json
import logging

import pytest

from layers_ops.ops.logs import JsonFormatter
from tests.jobs.worker import jobs_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_request_id_is_on_the_web_line_and_on_the_line_of_the_job_it_deferred(
    partner, caplog, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    created = partner.client.post(
        "/v1/webhook-endpoints",
        {"url": "http://127.0.0.1:9/nobody-listens", "events": ["lease.past_due"]},
        format="json",
    ).json()
    with caplog.at_level(logging.INFO):
        response = partner.client.post(f"/v1/webhook-endpoints/{created['endpoint']['id']}/test")
        assert response.status_code == 202
        jobs_run(queues=["webhooks"])

    request_id = response["X-Request-Id"]
    lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
    web = [line for line in lines if line["logger"] == "layers_ops.request"]
    job = [line for line in lines if line["logger"] == "layers_ops.job"]
    assert [line["requestId"] for line in web if line["path"].endswith("/test")] == [request_id]
    # The first attempt and its retries (nobody listens on port 9) all carry it.
    assert len(job) >= 2
    assert {line["requestId"] for line in job} == {request_id}
    assert {line["task"] for line in job} == {"layers_ops.webhooks.tasks.delivery_send"}
