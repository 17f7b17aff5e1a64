"""Log formats. ``LOG_FORMAT=json`` (the default with DEBUG off) writes one JSON object a
line, for the log pipeline; ``plain`` (the default under DEBUG) stays readable by eye.

The request line (``telemetry``) passes its fields as ``extra={"fields": {...}}``: the
JSON formatter spreads them into the object, the plain one shows the message only.
Nothing here reads headers: a field is logged only when a caller names it. Every JSON
line written while a request or a job it deferred runs carries that request's id.
"""

import json
import logging
import time
from datetime import UTC, datetime

from .trace import request_id_var

# LogRecord attributes that are not a caller's extra fields.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "fields"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", None) or {})
        if "requestId" not in line and (request_id := request_id_var.get()):
            line["requestId"] = request_id  # a line written while serving, or in a job
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """Readable lines, stamped in UTC like the JSON ones (``2026-11-30 08:03:27.311Z``),
    never in the process's zone (Django sets it to TIME_ZONE, Los Angeles)."""

    converter = time.gmtime
    default_msec_format = "%s.%03dZ"


def logging_config(*, log_format: str, level: str) -> dict:
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {
                "()": "layers_ops.ops.logs.PlainFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            },
            "json": {"()": "layers_ops.ops.logs.JsonFormatter"},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": log_format}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.request": {"level": "ERROR"},
            "django.utils.autoreload": {"level": "WARNING"},
            # One line per job comes from layers_ops.job; procrastinate's own per-job
            # lines would say it twice.
            "procrastinate": {"level": "WARNING"},
        },
    }
