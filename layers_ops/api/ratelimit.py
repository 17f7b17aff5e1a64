"""Rate limits per API key and endpoint class (``read`` for GET, ``write`` for the rest).

Counts are kept per second. A request is admitted while the current second and the 60
before it hold fewer than the limit, so no 60-second span, wherever it starts, ever admits
more than the limit (the window is conservative by at most one second). The counters live
in Redis when ``REDIS_URL`` is set (one Lua script: atomic across every worker) and in a
locked database row otherwise.
"""

import logging
import math
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import transaction
from rest_framework.exceptions import ParseError
from rest_framework.throttling import BaseThrottle

from layers_ops.partners.models import RateLimitTier

from . import idempotency
from .exceptions import ApiError, RateLimited
from .models import RateLimitWindow

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 60
# Buckets counted for a decision: the current second and the WINDOW_SECONDS before it.
SPAN = WINDOW_SECONDS + 1

LIMITS = {
    RateLimitTier.STANDARD: {"read": 120, "write": 60},
    RateLimitTier.PILOT: {"read": 1_200, "write": 600},
    RateLimitTier.PARTNER: {"read": 6_000, "write": 3_000},
    RateLimitTier.INTERNAL: {"read": 1_000_000, "write": 1_000_000},
}

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def endpoint_class(method: str) -> str:
    return "read" if method in READ_METHODS else "write"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    endpoint_class: str
    limit: int
    remaining: int
    reset_at: int  # Unix time when the oldest counted second leaves the window
    retry_after: int  # whole seconds until a request would be admitted; 0 when allowed

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
            "X-RateLimit-Endpoint-Class": self.endpoint_class,
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


def _decide(counts: dict[int, int], *, allowed, now: float, limit: int, klass: str) -> Decision:
    """Read the headers off the counts left after the hit (shared by both stores)."""
    current = int(now)
    live = sorted((s, c) for s, c in counts.items() if s > current - SPAN and c > 0)
    used = sum(c for _, c in live)
    reset_at = live[0][0] + SPAN if live else current
    retry_after = 0
    if not allowed:
        # Seconds until enough of the oldest buckets have expired to admit one more.
        freed = 0
        for second, count in live:
            freed += count
            if used - freed < limit:
                retry_after = max(1, math.ceil(second + SPAN - now))
                break
    return Decision(
        allowed=allowed,
        endpoint_class=klass,
        limit=limit,
        remaining=max(0, limit - used),
        reset_at=reset_at,
        retry_after=retry_after,
    )


def _admit(counts: dict[int, int], *, now: float, limit: int, spend: bool) -> bool:
    """Drop expired buckets; count one hit if there is room. Mutates ``counts``."""
    current = int(now)
    for second in [s for s in counts if s <= current - SPAN]:
        del counts[second]
    if not spend:  # a replay: reported, never refused
        return True
    allowed = sum(counts.values()) < limit
    if allowed:
        counts[current] = counts.get(current, 0) + 1
    return allowed


class DatabaseStore:
    def hit(self, bucket: str, *, limit: int, now: float, spend: bool) -> tuple[bool, dict]:
        with transaction.atomic():
            row = RateLimitWindow.objects.select_for_update().filter(bucket=bucket).first()
            if row is None:
                RateLimitWindow.objects.bulk_create(
                    [RateLimitWindow(bucket=bucket)], ignore_conflicts=True
                )
                row = RateLimitWindow.objects.select_for_update().get(bucket=bucket)
            counts = {int(s): c for s, c in row.counts.items()}
            allowed = _admit(counts, now=now, limit=limit, spend=spend)
            if (spend and allowed) or len(counts) != len(row.counts):
                row.counts = {str(s): c for s, c in counts.items()}
                row.save(update_fields=["counts"])
        return allowed, counts


# KEYS[1] the hash of second -> count; ARGV now (whole seconds), limit, spend (0/1), span.
_REDIS_SCRIPT = """
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local spend = tonumber(ARGV[3])
local span = tonumber(ARGV[4])
local flat = redis.call('HGETALL', KEYS[1])
local used = 0
local out = {}
for i = 1, #flat, 2 do
  local second = tonumber(flat[i])
  if second <= now - span then
    redis.call('HDEL', KEYS[1], flat[i])
  else
    used = used + tonumber(flat[i + 1])
    table.insert(out, flat[i])
    table.insert(out, flat[i + 1])
  end
end
local allowed = 0
if spend == 0 then
  allowed = 1  -- a replay: reported, never refused
elseif used < limit then
  allowed = 1
  local count = redis.call('HINCRBY', KEYS[1], now, 1)
  redis.call('EXPIRE', KEYS[1], span + 1)
  local found = false
  for i = 1, #out, 2 do
    if tonumber(out[i]) == now then out[i + 1] = tostring(count); found = true end
  end
  if not found then table.insert(out, tostring(now)); table.insert(out, tostring(count)) end
end
table.insert(out, 1, allowed)
return out
"""


class RedisStore:
    """Counters in Redis. If Redis stops answering, the database store stands in (and
    an error is logged) rather than failing every request while Redis is down."""

    def __init__(self, url: str):
        import redis

        self.errors = (redis.RedisError,)
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script = self.client.register_script(_REDIS_SCRIPT)
        self.fallback = DatabaseStore()

    def hit(self, bucket: str, *, limit: int, now: float, spend: bool) -> tuple[bool, dict]:
        try:
            reply = self.script(
                keys=[f"ratelimit:{bucket}"], args=[int(now), limit, int(spend), SPAN]
            )
        except self.errors:
            logger.exception("Redis rate-limit store failed; counting in the database")
            return self.fallback.hit(bucket, limit=limit, now=now, spend=spend)
        allowed, flat = bool(reply[0]), reply[1:]
        counts = {int(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        return allowed, counts


@cache
def store_for(redis_url: str):
    return RedisStore(redis_url) if redis_url else DatabaseStore()


def check(*, api_key_id: str, tier: str, method: str, spend: bool = True, now=None) -> Decision:
    klass = endpoint_class(method)
    limit = LIMITS[tier][klass]
    now = time.time() if now is None else now
    store = store_for(settings.REDIS_URL)
    allowed, counts = store.hit(f"{api_key_id}:{klass}", limit=limit, now=now, spend=spend)
    return _decide(counts, allowed=allowed, now=now, limit=limit, klass=klass)


class EndpointClassThrottle(BaseThrottle):
    """Spends one unit of the key's budget for the endpoint class, or answers 429.

    An idempotent replay spends nothing; it still reports the budget in the headers.
    """

    def allow_request(self, request, view):
        api_key = request.auth
        if api_key is None:
            return True
        try:
            spend = not idempotency.is_replay(request)
        except (ApiError, ParseError) as exc:
            # A bad key or body is answered (422) at full price, once the scope is checked.
            request.refused_input = exc
            spend = True
        decision = check(
            api_key_id=api_key.pk,
            tier=api_key.rate_limit_tier,
            method=request.method,
            spend=spend,
        )
        # The middleware copies these onto the response, whatever the view answers.
        request._request.rate_limit_headers = decision.headers()
        if not decision.allowed:
            raise RateLimited(
                f"The {decision.endpoint_class} budget of {decision.limit} requests a minute "
                f"is spent. Retry in {decision.retry_after} s.",
                headers=decision.headers(),
            )
        return True
