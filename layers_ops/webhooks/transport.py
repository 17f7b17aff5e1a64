"""One webhook POST, to a public address only, with a hard deadline.

How an attempt goes out (``post``):

1. The URL must be ``https`` (``http`` too when ``WEBHOOK_ALLOW_PRIVATE_URLS``).
2. Its host is resolved once, with ``socket.getaddrinfo``, and every address it
   resolves to must be public (``address_refusal``: no private, loopback, link-local,
   CGNAT, cloud-metadata, unspecified, multicast or reserved address, nor an IPv6 address
   embedding one), unless ``WEBHOOK_ALLOW_PRIVATE_URLS``. One bad address refuses the
   whole URL: a partner cannot mix a private address in and hope it is picked.
3. The connection is pinned: urllib3's ``HTTPConnection`` / ``HTTPSConnection`` is
   opened to the checked IP address itself (no second lookup, so a DNS answer that
   changes between the check and the connect — DNS rebinding — cannot move it), while
   the name stays on everything that identifies the server: TLS gets
   ``server_hostname=<host>`` (SNI, and the certificate is verified against that name
   by the ``ssl`` module with ``check_hostname``), and the request carries
   ``Host: <host>``. The addresses are tried in the resolver's order.
4. ``WEBHOOK_CONNECT_TIMEOUT_SECONDS`` (5) bounds the connect and TLS handshake;
   ``WEBHOOK_TIMEOUT_SECONDS`` (15) bounds the whole attempt, reading the answer
   included: socket timeouts shrink to what is left, and a timer shuts the socket down
   at the deadline, so a receiver dripping bytes cannot hold a worker longer.
5. Redirects are never followed (the 3xx is the answer), and at most the first
   kilobyte of the answer's body is read, for the record; the connection is then
   closed, not reused.
"""

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from django.conf import settings
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import HTTPError as Urllib3Error

EXCERPT_BYTES = 1024
ERROR_MAX = 200

_METADATA = {
    ipaddress.ip_address("169.254.169.254"): "a cloud metadata address",
    ipaddress.ip_address("fd00:ec2::254"): "a cloud metadata address",
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Answer:
    """What one attempt got. ``status_code`` is None when no answer came (``error``
    says why); ``refused`` means nothing was sent because the URL or its addresses are
    not allowed, which retrying cannot fix."""

    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    retry_after: str | None = None
    location: str | None = None
    refused: bool = False
    duration_ms: int = 0


class _Refused(Exception):
    pass


def address_refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a delivery may not connect to ``address``, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = address_refusal(embedded)
            return f"it embeds {embedded}, {reason}" if reason else None
    if address in _METADATA:
        return _METADATA[address]
    for test, what in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
    ):
        if getattr(address, test):
            return what
    if address in _CGNAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def _addresses(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order (one lookup)."""
    found = []
    for *_, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        if sockaddr[0] not in found:
            found.append(sockaddr[0])
    return found


@cache
def _ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()  # the system's CAs, hostname checked, TLS >= 1.2


def _cut(sock: socket.socket) -> None:
    """The deadline's timer: shuts the socket so any blocked read returns at once (the
    socket, not ``conn.sock``: http.client lets go of that once the answer owns it)."""
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _error_text(exc: BaseException, *, timed_out: bool, total: float) -> str:
    if timed_out:
        return f"timed out: no complete answer within {total:g} s"
    reason = exc
    while isinstance(reason, Urllib3Error) and reason.__context__ is not None:
        reason = reason.__context__
    if isinstance(reason, ssl.SSLCertVerificationError):
        return f"TLS certificate refused: {reason.verify_message}"[:ERROR_MAX]
    if isinstance(reason, ssl.SSLError):
        return f"TLS failed: {reason.reason or reason}"[:ERROR_MAX]
    if isinstance(reason, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, http.client.RemoteDisconnected):
        return "the receiver closed the connection without answering"
    return f"{type(reason).__name__}: {reason}"[:ERROR_MAX]


def post(*, url: str, body: bytes, headers: dict[str, str]) -> Answer:
    """POSTs ``body`` to ``url`` as the module docstring describes; never raises for
    anything the receiver or the network does."""
    started = time.monotonic()
    connect_timeout = float(settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS)
    total = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    deadline = started + total

    def elapsed_ms() -> int:
        return round((time.monotonic() - started) * 1000)

    try:
        target = _target(url)
    except _Refused as exc:
        return Answer(error=str(exc)[:ERROR_MAX], refused=True, duration_ms=elapsed_ms())
    scheme, host, port, path, host_header = target
    try:
        addresses = _addresses(host, port)
    except (OSError, UnicodeError) as exc:
        return Answer(error=f"{host} did not resolve: {exc}"[:ERROR_MAX], duration_ms=elapsed_ms())
    if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        for address in addresses:
            reason = address_refusal(ipaddress.ip_address(address.partition("%")[0]))
            if reason:
                error = f"refused: {host} resolves to {address}, {reason}"
                return Answer(error=error[:ERROR_MAX], refused=True, duration_ms=elapsed_ms())

    last_error: BaseException | None = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        if scheme == "https":
            conn = HTTPSConnection(
                address,
                port,
                timeout=min(connect_timeout, remaining),
                server_hostname=host,
                ssl_context=_ssl_context(),
            )
        else:
            conn = HTTPConnection(address, port, timeout=min(connect_timeout, remaining))
        try:
            conn.connect()
        except (OSError, Urllib3Error) as exc:
            last_error = exc
            conn.close()
            continue
        return _exchange(conn, path, host_header, body, headers, deadline, total, elapsed_ms)
    timed_out = time.monotonic() >= deadline
    return Answer(
        error=_error_text(last_error, timed_out=timed_out, total=total)
        if last_error
        else f"no complete answer within {total:g} s",
        duration_ms=elapsed_ms(),
    )


def _target(url: str) -> tuple[str, str, int, str, str]:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _Refused(f"refused: the URL is malformed ({exc})") from exc
    allowed = ("https", "http") if settings.WEBHOOK_ALLOW_PRIVATE_URLS else ("https",)
    if parts.scheme not in allowed:
        raise _Refused(f"refused: only https URLs receive webhooks, not {parts.scheme}://")
    host = parts.hostname
    if not host:
        raise _Refused("refused: the URL has no host")
    default_port = 443 if parts.scheme == "https" else 80
    host_header = f"[{host}]" if ":" in host else host
    if port and port != default_port:
        host_header += f":{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, host, port or default_port, path, host_header


def _exchange(conn, path, host_header, body, headers, deadline, total, elapsed_ms) -> Answer:
    timer = threading.Timer(max(deadline - time.monotonic(), 0), _cut, args=(conn.sock,))
    timer.daemon = True
    timer.start()
    try:
        conn.timeout = max(deadline - time.monotonic(), 0.001)  # urllib3 applies it
        conn.request(
            "POST",
            path,
            body=body,
            headers={**headers, "Host": host_header, "Content-Length": str(len(body))},
            preload_content=False,
            decode_content=False,
        )
        response = conn.getresponse()
    except (OSError, Urllib3Error, http.client.HTTPException) as exc:
        timer.cancel()
        conn.close()
        timed_out = time.monotonic() >= deadline
        return Answer(
            error=_error_text(exc, timed_out=timed_out, total=total), duration_ms=elapsed_ms()
        )
    try:
        # An answer came: a body cut short still leaves its status; only the deadline
        # turns it into a time-out.
        try:
            excerpt = response.read(EXCERPT_BYTES)
        except (OSError, Urllib3Error, http.client.HTTPException):
            excerpt = b""
        if time.monotonic() >= deadline:
            return Answer(
                error=f"timed out: the answer did not arrive within {total:g} s",
                duration_ms=elapsed_ms(),
            )
        return Answer(
            status_code=response.status,
            excerpt=excerpt.decode("utf-8", errors="replace"),
            retry_after=response.headers.get("Retry-After"),
            location=response.headers.get("Location"),
            duration_ms=elapsed_ms(),
        )
    finally:
        timer.cancel()
        conn.close()
