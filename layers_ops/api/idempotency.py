"""``Idempotency-Key`` for POST endpoints.

Scoped to the organization. The same key and the same body (canonical JSON: key order
and white space do not matter) within 24 hours replays the first answer with
``Idempotent-Replayed: true``; the same key with another body is 409 ``CONFLICT``. Only
successful answers are stored, as the exact bytes first sent, in the same transaction as
the work they answer, so a request that queued nothing can be retried with its key and
two concurrent requests with one key commit exactly one piece of work, whatever the age
of an earlier, expired use of the key.
"""

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property, wraps

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone
from rest_framework.response import Response

from .exceptions import ApiError, Conflict, ValidationFailed
from .models import IdempotencyKey

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
STORED_HEADERS = ("Location",)
CONTENT_TYPE = "application/json"


@dataclass
class Claim:
    key: uuid.UUID
    stored: IdempotencyKey | None  # an unexpired earlier answer, if any
    expired: bool  # an earlier answer exists but is past the TTL
    request: object = field(repr=False)

    @cached_property
    def fingerprint(self) -> str:
        # Computed only when needed (a stored answer to compare, or one to store), so a
        # body refused by validation never pays for its canonical form.
        return fingerprint(self.request.method, self.request.path, self.request.data)


def ttl() -> timedelta:
    return timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)


def fingerprint(method: str, path: str, body) -> str:
    # ASCII escapes keep it canonical and let any string (even a lone surrogate) hash.
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _parse_key(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise ValidationFailed(
            "The Idempotency-Key header must be a UUID.",
            details=[{"field": HEADER, "message": "Must be a UUID."}],
        ) from None


def _lookup(organization_id: str, key: uuid.UUID) -> IdempotencyKey | None:
    return IdempotencyKey.objects.filter(organization_id=organization_id, key=key).first()


def claim_for(request) -> Claim | None:
    """The request's key and any earlier answer; memoized on the request."""
    if hasattr(request, "_idempotency_claim"):
        return request._idempotency_claim
    raw = request.headers.get(HEADER)
    claim = None
    if raw is not None and request.auth is not None:
        key = _parse_key(raw)
        stored = _lookup(request.auth.organization_id, key)
        expired = stored is not None and stored.created_at < timezone.now() - ttl()
        claim = Claim(key=key, stored=None if expired else stored, expired=expired, request=request)
    request._idempotency_claim = claim
    return claim


def is_replay(request) -> bool:
    if request.method != "POST" or HEADER not in request.headers:
        return False
    claim = claim_for(request)
    return bool(claim and claim.stored and claim.stored.fingerprint == claim.fingerprint)


def _replay(stored: IdempotencyKey, fingerprint_: str) -> HttpResponse:
    if stored.fingerprint != fingerprint_:
        raise Conflict(
            "This Idempotency-Key was already used with a different request body.",
            details=[{"field": HEADER, "message": "Reused with a different body."}],
        )
    response = HttpResponse(
        stored.response_content, status=stored.response_status, content_type=CONTENT_TYPE
    )
    for name, value in stored.response_headers.items():
        response[name] = value
    response[REPLAYED_HEADER] = "true"
    return response


def _rendered(view, response: Response) -> HttpResponse:
    """The view's answer as the bytes it will be sent as, so a replay can repeat them."""
    content = view.get_renderers()[0].render(response.data)
    rendered = HttpResponse(content, status=response.status_code, content_type=CONTENT_TYPE)
    for name, value in response.items():
        if name.lower() != "content-type":
            rendered[name] = value
    return rendered


def _store(organization_id: str, claim: Claim, response: HttpResponse) -> None:
    """Claim the key for this answer, in the transaction that did the work.

    A fresh key is an INSERT: of two concurrent requests, the unique constraint lets one
    commit and makes the other fail. An expired key's row is taken over in place by an
    UPDATE that only matches while the row is still expired: PostgreSQL re-checks that
    condition after waiting for a concurrent claim to commit, finds the row fresh and
    updates nothing, and the INSERT that follows meets the unique constraint exactly as
    for a fresh key. (Deleting and re-inserting would let a late request delete the
    winner's fresh row and commit a second piece of work.)
    """
    now = timezone.now()
    answer = {
        "fingerprint": claim.fingerprint,
        "response_status": response.status_code,
        "response_content": response.content.decode(),
        "response_headers": {h: response[h] for h in STORED_HEADERS if h in response},
        "created_at": now,
    }
    if claim.expired:
        taken_over = IdempotencyKey.objects.filter(
            organization_id=organization_id, key=claim.key, created_at__lt=now - ttl()
        ).update(**answer)
        if taken_over:
            return
    IdempotencyKey.objects.create(organization_id=organization_id, key=claim.key, **answer)


def idempotent(handler):
    """Wrap an APIView method so its successful answer is stored under the request's key."""

    @wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        claim = claim_for(request)
        if claim is None:
            return handler(view, request, *args, **kwargs)
        if claim.stored is not None:
            return _replay(claim.stored, claim.fingerprint)
        organization_id = request.auth.organization_id
        try:
            with transaction.atomic():
                response = handler(view, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    response = _rendered(view, response)
                    _store(organization_id, claim, response)
        except (IntegrityError, ApiError):
            # A concurrent request with the same key may have committed first; its claim
            # (or its partner requestId) is what refused this one. Answer as it did.
            stored = _lookup(organization_id, claim.key)
            if stored is None or stored.created_at < timezone.now() - ttl():
                raise
            return _replay(stored, claim.fingerprint)
        return response

    return wrapper


@transaction.atomic
def idempotency_keys_purge(*, now=None) -> int:
    """Forget keys older than the TTL. Returns how many were deleted."""
    cutoff = (now or timezone.now()) - ttl()
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
