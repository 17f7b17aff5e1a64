"""The ``X-Layers-Signature`` header: ``t=<unix seconds>,v1=<hex>[,v1=<hex>]``.

Each ``v1`` is HMAC-SHA256 of ``"{t}.{raw body}"`` under one live secret of the
endpoint: the current one first, then, during a rotation, the previous one until it
expires. ``signature_verify`` is the receiver's side, the code the docs show partners:
standard library only, so it can be copied as it is.
"""

import hashlib
import hmac
import time


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(*, body: bytes, secrets: list[str], timestamp: int) -> str:
    """The header value signing ``body`` at ``timestamp`` with each of ``secrets``."""
    return ",".join([f"t={timestamp}", *(f"v1={_mac(s, timestamp, body)}" for s in secrets)])


def signature_verify(
    *, header: str, body: bytes, secret: str, tolerance: int = 300, now: float | None = None
) -> bool:
    """True when ``header`` (X-Layers-Signature) signs ``body`` (the raw bytes received)
    with ``secret`` and its timestamp is within ``tolerance`` seconds of now."""
    timestamp, macs = None, []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            macs.append(value)
    if timestamp is None or not macs:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _mac(secret, timestamp, body)
    # Compare with every v1 (no early exit), each in constant time.
    return sum(hmac.compare_digest(expected, mac) for mac in macs) > 0
