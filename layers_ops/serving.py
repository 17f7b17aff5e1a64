"""The HTTP server of ``make serve``: gunicorn runs uvicorn workers (``Worker``) on our ASGI app.

Each worker reads requests on an event loop: a request reaches Django (and a thread, for
the sync views) only once its headers and its whole body have arrived, so slow or silent
clients hold a socket and a few kilobytes each, never a thread or a worker. On top of
uvicorn's HTTP/1.1 protocol (httptools), ``HttpProtocol`` keeps what a buffering proxy
would, answering in the API's JSON error envelope with an ``X-Request-Id``:

* limits, before anything is buffered: a request line over ``limit_request_line`` bytes
  is 414; more than ``limit_request_fields`` header fields, one over
  ``limit_request_field_size`` bytes, or a whole head over ``HEAD_LIMIT`` is 431
  (gunicorn's settings, from ``gunicorn.conf.py``); a malformed request is 400;
* bodies, before a byte of them is read: ``Transfer-Encoding`` is 411 (send a
  ``Content-Length``), a ``Content-Length`` over the API's 2.5 MB (``/v1``) or over
  ``UPLOAD_LIMIT`` (the admin's CSV uploads) is 413; both close the connection;
* time: the head must arrive within ``HEADER_TIMEOUT`` seconds of the connection (or of
  the first byte of a kept-alive connection's next request), the body within
  ``BODY_TIMEOUT`` plus one second per ``BODY_MIN_RATE`` bytes it announced; else 408
  and the connection is closed. Idle kept-alive connections close after ``keepalive``.
"""

import json
import os

import httptools
from django.conf import settings
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn_worker import UvicornWorker

from layers_ops.ids import new_request_id

HEADER_TIMEOUT = float(os.environ.get("SERVE_HEADER_TIMEOUT", "10"))
BODY_TIMEOUT = float(os.environ.get("SERVE_BODY_TIMEOUT", "10"))
BODY_MIN_RATE = 50_000  # bytes per second a body must keep up, after BODY_TIMEOUT
HEAD_LIMIT = 64 * 1024  # request line and every header field together
UPLOAD_LIMIT = 64 * 1024 * 1024  # bodies outside /v1 (the admin's CSV intake)
LINGER = 2.0  # seconds a refused connection's remaining input is read and dropped
API_PREFIX = b"/v1"


class _Refused(Exception):
    """Raised in a parser callback to stop reading; httptools hands it on as a parse error."""


def refusal_body(status: int, config) -> tuple[str, bytes]:
    """``(request id, JSON envelope)`` for a refusal the server makes itself."""
    from layers_ops.api import exceptions as api  # Django is set up by now

    error = {
        400: api.BadRequest("The request could not be read as HTTP/1.1."),
        408: api.RequestTimeout(),
        411: api.LengthRequired(),
        413: api.PayloadTooLarge(),
        414: api.UriTooLong(f"The request line is longer than {config.limit_request_line} bytes."),
        431: api.HeadersTooLarge(
            f"Send at most {config.limit_request_fields} header fields of at most "
            f"{config.limit_request_field_size} bytes each, {HEAD_LIMIT} bytes in all."
        ),
    }[status]
    request_id = new_request_id()
    body = api.error_body(request_id, error.code, error.message)
    return request_id, json.dumps(body, separators=(",", ":")).encode()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with request limits and read deadlines (module doc)."""

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._reading_head = True
        self._head_bytes = 0  # as received, while the head is incomplete
        self._head_size = 0  # the header fields parsed so far
        self._fields = 0
        self._refusal = None
        self._linger = None
        self._read_timer = self.loop.call_later(HEADER_TIMEOUT, self._read_timed_out)

    def connection_lost(self, exc) -> None:
        self._cancel_read_timer()
        if self._linger is not None:
            self._linger.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._linger is not None:
            return  # refused: what follows is dropped unread
        if self._reading_head:
            self._head_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:  # malformed, or refused by a callback below
            self.refuse(self._refusal or 400)
            return
        if self._reading_head and self._head_bytes > HEAD_LIMIT and not self.transport.is_closing():
            self.refuse(431)

    def send_400_response(self, msg: str) -> None:
        self.refuse(400)

    # Parser callbacks ---------------------------------------------------------------

    def _stop(self, status: int) -> None:
        self._refusal = status
        raise _Refused(status)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_bytes = 0  # as received, while the head is incomplete
        self._head_size = 0  # the header fields parsed so far
        self._fields = 0
        if self._read_timer is None:  # a kept-alive connection's next request
            self._read_timer = self.loop.call_later(HEADER_TIMEOUT, self._read_timed_out)

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.config.limit_request_line:
            self._stop(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._fields += 1
        self._head_size += len(name) + len(value) + 4
        if (
            self._fields > self.config.limit_request_fields
            or len(name) + len(value) + 2 > self.config.limit_request_field_size
            or len(self.url) + self._head_size > HEAD_LIMIT
        ):
            self._stop(431)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_read_timer()
        length = 0
        for name, value in self.headers:
            if name == b"transfer-encoding" and value.strip().lower() != b"identity":
                self._stop(411)
            if name == b"content-length" and value.strip().isdigit():
                length = int(value)
        limit = UPLOAD_LIMIT
        if self._is_api() and settings.DATA_UPLOAD_MAX_MEMORY_SIZE is not None:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if length > limit:
            self._stop(413)
        if length:
            self._read_timer = self.loop.call_later(
                BODY_TIMEOUT + length / BODY_MIN_RATE, self._read_timed_out
            )
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._cancel_read_timer()
        super().on_message_complete()

    # Refusing -----------------------------------------------------------------------

    def _is_api(self) -> bool:
        path = httptools.parse_url(self.url).path if self.url else b""
        return path == API_PREFIX or path.startswith(API_PREFIX + b"/")

    def _cancel_read_timer(self) -> None:
        if getattr(self, "_read_timer", None) is not None:
            self._read_timer.cancel()
        self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        self.refuse(408)

    def refuse(self, status: int) -> None:
        """Answer ``status`` in the JSON envelope and close the connection."""
        self._cancel_read_timer()
        if self.transport.is_closing() or self._linger is not None:
            return
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if cycle.response_started or not cycle.more_body:
                # An answer is on its way (or being made): ours may not go before it.
                self.transport.close()
                return
            # The app waits for the rest of a body that will not come: it sees a disconnect.
            cycle.disconnected = True
            cycle.message_event.set()
        request_id, body = refusal_body(status, self.config)
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head.extend([name, b": ", value, b"\r\n"])
        head.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"x-request-id: " + request_id.encode() + b"\r\n",
                b"connection: close\r\n\r\n",
            ]
        )
        self.transport.write(b"".join(head) + body)
        # Close gently: stop sending, then read and drop what the client is still sending
        # for up to LINGER seconds, so its unread data does not reset the connection
        # (which can destroy our answer before the client reads it).
        self.transport.write_eof()
        self._linger = self.loop.call_later(LINGER, self.transport.close)
        if self.access_log:
            self.access_logger.info(
                '%s - "%s" %d (refused by the server)',
                "{}:{}".format(*self.client) if self.client else "-",
                self.url[:200].decode("latin-1") if getattr(self, "url", b"") else "-",
                status,
            )


class Worker(UvicornWorker):
    """gunicorn's worker for ``make serve``: uvicorn on uvloop with ``HttpProtocol``."""

    CONFIG_KWARGS = {
        "loop": "uvloop",
        "http": HttpProtocol,
        "lifespan": "off",  # Django's ASGI handler speaks only HTTP
        "server_header": False,
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # gunicorn's own limits keep their meaning under this protocol.
        self.config.limit_request_line = self.cfg.limit_request_line
        self.config.limit_request_fields = self.cfg.limit_request_fields
        self.config.limit_request_field_size = self.cfg.limit_request_field_size
