"""One JSON line per request, carrying the request id and never key material."""

import json
import logging

import pytest
from django.test import Client

from layers_ops.ops.logs import JsonFormatter, logging_config
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db


def json_lines(caplog) -> list[dict]:
    return [json.loads(JsonFormatter().format(record)) for record in caplog.records]


def request_line(caplog) -> dict:
    [line] = [line for line in json_lines(caplog) if line["logger"] == "layers_ops.request"]
    return line


def test_a_partner_call_logs_one_json_line_with_its_request_id(partner, caplog):
    caplog.set_level(logging.INFO)
    response = partner.client.get("/v1/whoami")
    line = request_line(caplog)
    assert line["requestId"] == response["X-Request-Id"]
    assert line["organizationId"] == partner.organization.pk
    assert line["apiKeyId"] == partner.api_key.pk
    assert line["route"] == "/v1/whoami"
    assert line["status"] == 200
    assert line["method"] == "GET"
    assert line["dbStatements"] >= 1
    assert line["durationMs"] > 0


def test_no_log_line_carries_the_key(partner, caplog):
    caplog.set_level(logging.DEBUG)
    secret = partner.token.rsplit("_", 1)[1]
    partner.client.get("/v1/wallet", HTTP_X_API_KEY=partner.token)
    partner.client.get("/v1/nowhere")
    wrong = partner.token[:-4] + "zzzz"
    assert bearer_client(wrong).get("/v1/whoami").status_code == 401
    text = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "layers_ops.request" in text
    for material in (partner.token, secret, wrong, wrong.rsplit("_", 1)[1], "Bearer"):
        assert material not in text


def test_an_unauthenticated_call_has_no_organization(caplog):
    caplog.set_level(logging.INFO)
    Client().get("/healthz")
    line = request_line(caplog)
    assert "organizationId" not in line and "apiKeyId" not in line
    assert line["route"] == "/healthz"


def test_log_format_plain_keeps_lines_readable_by_eye():
    config = logging_config(log_format="plain", level="INFO")
    assert config["handlers"]["console"]["formatter"] == "plain"
    assert config["formatters"]["json"]["()"] == "layers_ops.ops.logs.JsonFormatter"


def test_log_format_defaults_to_plain_under_debug_and_json_otherwise():
    import subprocess
    import sys

    show = "from django.conf import settings; print(settings.LOG_FORMAT)"
    for debug, expected in (("true", "plain"), ("false", "json")):
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']"
                f"='tests.settings'; django.setup(); {show}",
            ],
            env={**__import__("os").environ, "DEBUG": debug},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert out.strip().endswith(expected)


def test_both_log_formats_stamp_lines_in_utc():
    from layers_ops.ops.logs import JsonFormatter, PlainFormatter

    record = logging.makeLogRecord({"msg": "hello", "levelname": "INFO", "name": "x"})
    record.created, record.msecs = 1_795_000_000.25, 250  # 03:06:40 in Los Angeles
    plain = PlainFormatter("%(asctime)s %(message)s").format(record)
    as_json = json.loads(JsonFormatter().format(record))

    assert plain == "2026-11-18 11:06:40.250Z hello"
    assert as_json["time"] == "2026-11-18T11:06:40.250+00:00"
