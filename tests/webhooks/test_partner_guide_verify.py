"""The signature check the partner guide shows is real: taken from docs/partners.md and
run against what the service signs."""

import re
import time
from pathlib import Path

from layers_ops.webhooks.signing import signature_header

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "partners.md"


def guide_verify():
    (code,) = [
        block
        for block in re.findall(r"^```python\n(.*?)^```", GUIDE.read_text(), flags=re.M | re.S)
        if "def verify(" in block
    ]
    namespace = {}
    exec(code, namespace)  # the guide's own code, as a partner would paste it
    return namespace["verify"]


def test_the_guides_verify_accepts_what_the_service_signs_and_nothing_else():
    verify = guide_verify()
    body = b'{"id":"evt_1","type":"test.ping","createdAt":"2026-12-04T19:24:11Z","data":{}}'
    now = int(time.time())
    header = signature_header(body=body, secrets=["whsec_new", "whsec_old"], timestamp=now)
    assert verify(header, body, "whsec_new")
    assert verify(header, body, "whsec_old")  # during a rotation, either secret
    assert not verify(header, body, "whsec_other")
    assert not verify(header, body + b" ", "whsec_new")
    stale = signature_header(body=body, secrets=["whsec_new"], timestamp=now - 301)
    assert not verify(stale, body, "whsec_new")
    assert not verify("v1=abc", body, "whsec_new")
