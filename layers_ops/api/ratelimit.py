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

from layers_ops.partners import keycache
from layers_ops.partners.models import RateLimitTier

from . import authentication, idempotency
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


@dataclass(frozen=True)
class Window:
    """What a decision needs from the counts left after a hit (both stores compute it)."""

    allowed: bool
    used: int  # hits counted in the window, this one included when admitted
    oldest: int | None  # the oldest second still counted, if any
    frees_at: int | None  # refused: the second whose expiry admits one more


def _window(counts: dict[int, int], *, allowed: bool, now: float, limit: int) -> Window:
    current = int(now)
    live = sorted((s, c) for s, c in counts.items() if s > current - SPAN and c > 0)
    used = sum(c for _, c in live)
    frees_at = None
    if not allowed:
        freed = 0
        for second, count in live:
            freed += count
            if used - freed < limit:
                frees_at = second
                break
    return Window(allowed, used, live[0][0] if live else None, frees_at)


def _decide(window: Window, *, now: float, limit: int, klass: str) -> Decision:
    """The headers' numbers, from the window left after the hit."""
    retry_after = 0
    if window.frees_at is not None:
        # Seconds until enough of the oldest buckets have expired to admit one more.
        retry_after = max(1, math.ceil(window.frees_at + SPAN - now))
    return Decision(
        allowed=window.allowed,
        endpoint_class=klass,
        limit=limit,
        remaining=max(0, limit - window.used),
        reset_at=window.oldest + SPAN if window.oldest is not None else int(now),
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


class KeyChanged(Exception):
    """The cached API key could not be confirmed: it changed (was revoked) since this
    process cached it, and nothing was spent (``decision`` None); or Redis did not
    answer, and the hit was counted in the database instead (``decision``)."""

    def __init__(self, decision: "Decision | None" = None):
        super().__init__()
        self.decision = decision


class Unconfirmed(Exception):
    """From a store to ``check``: counted (``window``), but the cached key unconfirmed."""

    def __init__(self, window: Window):
        super().__init__()
        self.window = window


class DatabaseStore:
    confirms_keys = False

    def hit(self, bucket: str, *, limit: int, now: float, spend: bool, key=None) -> Window:
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
        return _window(counts, allowed=allowed, now=now, limit=limit)


# KEYS[1] the hash of second -> count; KEYS[2] (optional) the API key's version in the
# key cache (layers_ops.partners.keycache). ARGV now (whole seconds), limit, spend (0/1),
# span, and the version the caller's cached key was read at ("" to check none).
# Returns {-1} when the version differs (nothing spent), else
# {allowed, used, oldest second or -1, second whose expiry frees room or -1}.
_REDIS_SCRIPT = """
if ARGV[5] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[5] then
  return {-1}
end
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local spend = tonumber(ARGV[3])
local span = tonumber(ARGV[4])
local flat = redis.call('HGETALL', KEYS[1])
local used = 0
local live = {}
for i = 1, #flat, 2 do
  local second = tonumber(flat[i])
  if second <= now - span then
    redis.call('HDEL', KEYS[1], flat[i])
  else
    local count = tonumber(flat[i + 1])
    if count > 0 then
      used = used + count
      live[second] = count
    end
  end
end
local allowed = 0
if spend == 0 then
  allowed = 1  -- a replay: reported, never refused
elseif used < limit then
  allowed = 1
  redis.call('HINCRBY', KEYS[1], now, 1)
  redis.call('EXPIRE', KEYS[1], span + 1)
  used = used + 1
  live[now] = (live[now] or 0) + 1
end
local seconds = {}
for second in pairs(live) do table.insert(seconds, second) end
table.sort(seconds)
local oldest = seconds[1] or -1
local frees_at = -1
if allowed == 0 then
  local freed = 0
  for _, second in ipairs(seconds) do
    freed = freed + live[second]
    if used - freed < limit then frees_at = second; break end
  end
end
return {allowed, used, oldest, frees_at}
"""


class RedisStore:
    """Counters in Redis. If Redis stops answering, the database store stands in (and
    an error is logged) rather than failing every request while Redis is down.

    The script does the whole decision in Redis and answers four numbers: parsing the
    61 per-second buckets in Python instead cost 0.3 ms a request (measured with the
    benchmark's in-process profile). The same round trip confirms a cached API key
    (``key``: its Redis name and the version it was cached at), so a key revoked in
    another process is refused before it spends anything, at no extra round trip.
    """

    confirms_keys = True

    def __init__(self, url: str):
        import redis

        self.errors = (redis.RedisError,)
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.script = self.client.register_script(_REDIS_SCRIPT)
        self.fallback = DatabaseStore()

    def hit(self, bucket: str, *, limit: int, now: float, spend: bool, key=None) -> Window:
        version_key, version = key if key is not None else ("", "")
        try:
            reply = self.script(
                keys=[f"ratelimit:{bucket}", version_key or f"ratelimit:{bucket}"],
                args=[int(now), limit, int(spend), SPAN, version],
            )
        except self.errors:
            logger.exception("Redis rate-limit store failed; counting in the database")
            keycache.forget_all()  # versions may be missed while Redis is away
            window = self.fallback.hit(bucket, limit=limit, now=now, spend=spend)
            if key is not None:
                raise Unconfirmed(window) from None  # the caller reads the key's row
            return window
        if reply[0] == -1:
            raise KeyChanged()
        allowed, used, oldest, frees_at = (int(v) for v in reply)
        return Window(
            allowed=bool(allowed),
            used=used,
            oldest=oldest if oldest >= 0 else None,
            frees_at=frees_at if frees_at >= 0 else None,
        )


@cache
def store_for(redis_url: str):
    return RedisStore(redis_url) if redis_url else DatabaseStore()


def check(
    *, api_key_id: str, tier: str, method: str, spend: bool = True, now=None, key=None
) -> Decision:
    """Spend (or, ``spend=False``, only read) one unit of the key's budget.

    ``key``, ``(version key, version)`` of a cached API key, is confirmed in the same
    round trip: ``KeyChanged`` (nothing spent) when it no longer holds, or when it cannot
    be confirmed because the counters are not in Redis right now.
    """
    klass = endpoint_class(method)
    limit = LIMITS[tier][klass]
    now = time.time() if now is None else now
    store = store_for(settings.REDIS_URL)
    bucket = f"{api_key_id}:{klass}"
    if key is not None and not store.confirms_keys:
        window = store.hit(bucket, limit=limit, now=now, spend=spend)
        raise KeyChanged(_decide(window, now=now, limit=limit, klass=klass))
    try:
        window = store.hit(bucket, limit=limit, now=now, spend=spend, key=key)
    except Unconfirmed as unconfirmed:
        raise KeyChanged(_decide(unconfirmed.window, now=now, limit=limit, klass=klass)) from None
    return _decide(window, now=now, limit=limit, klass=klass)


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
        try:
            decision = check(
                api_key_id=api_key.pk,
                tier=api_key.rate_limit_tier,
                method=request.method,
                spend=spend,
                key=getattr(api_key, "unconfirmed", None),
            )
            api_key.unconfirmed = None  # the script found its version unchanged
        except KeyChanged as changed:
            authentication.confirm(request, api_key)  # 401 when it was revoked
            api_key = request.auth
            decision = changed.decision or check(
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
