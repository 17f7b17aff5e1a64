"""Verified API keys cached in each web process, confirmed in Redis on every request.

Reading the key's row through the ORM cost a SQL statement and ~0.45 ms of CPU on every
partner request (the benchmark's in-process profile). With Redis configured, a process
keeps the rows of the keys it has verified, and no request reads its key from the
database, while a revocation still takes effect at once, in every process:

* Each key has a version in Redis (``version_key``): a random value, replaced by every
  change to the key (``version_bump``; ``api_key_revoke`` bumps it inside its
  transaction and again once it commits). Random, so a Redis restart that loses it can
  never bring an old value back: a missing version is as stale as a different one.
* An entry remembers the version read *before* its row was read from the database, so a
  change that commits in between already leaves the entry stale. A key with no version
  yet gets one after its row is found active, only if no other process (and no
  revocation) set one meanwhile (``version_create``); unknown keys never get one.
* Every request's entry is confirmed in the one Redis round trip the request makes
  anyway: the rate limiter's script compares the version before it spends anything
  (``layers_ops.api.ratelimit``). A key that changed is dropped and read again from the
  database; a revoked one is 401.
* Entries expire after ``TTL`` seconds: the bound on an edit made outside the services
  (an UPDATE typed into psql), and on a bump lost because Redis was unreachable when a
  key was revoked (logged as an error; every process that meets the outage itself drops
  its whole cache, ``forget_all``).

Without ``REDIS_URL`` nothing is cached and the row is read on every request. Entries
hold the row's values, never the secret: the secret a request presents is hashed and
compared with the stored hash exactly as before.
"""

import logging
import secrets
import threading
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings

from .models import ApiKey

logger = logging.getLogger(__name__)

TTL = 60.0
RETRY_AFTER = 1.0
FIELDS = tuple(f.attname for f in ApiKey._meta.concrete_fields)


@dataclass(frozen=True)
class Entry:
    values: dict
    version: str
    expires_at: float

    def api_key(self) -> ApiKey:
        """A fresh instance per request (relations loaded on one never leak into another),
        marked unconfirmed until its version is checked."""
        api_key = ApiKey(**self.values)
        api_key._state.adding = False
        api_key._state.db = "default"
        api_key.unconfirmed = (version_key(self.values["id"]), self.version)
        return api_key


_entries: dict[str, Entry] = {}
_lock = threading.Lock()
_redis_away_until = 0.0


def enabled() -> bool:
    return bool(settings.REDIS_URL)


def version_key(key_id: str) -> str:
    return f"apikey:version:{key_id}"


@cache
def _client(url: str):
    import redis

    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    return client, (redis.RedisError,)


def lookup(key_id: str) -> Entry | None:
    entry = _entries.get(key_id)
    if entry is None or not enabled():
        return None
    if entry.expires_at < time.monotonic():
        forget(key_id)
        return None
    return entry


def version_read(key_id: str) -> str | None:
    """The key's current version, read before its row: "" when it has none yet; None
    when it cannot be cached (no Redis, or Redis not answering)."""
    if not enabled() or time.monotonic() < _redis_away_until:
        return None
    client, errors = _client(settings.REDIS_URL)
    try:
        version = client.get(version_key(key_id))
    except errors:
        logger.warning("Redis did not answer: API keys are read from the database")
        forget_all()
        return None
    return version.decode() if version is not None else ""


def version_create(key_id: str) -> str | None:
    """A first version for a key whose row was just read and found active, or None when
    another process made one (or a revocation bumped it) meanwhile: then the row is not
    cached this time. Made only for keys that exist, so tokens naming unknown keys never
    add anything to Redis."""
    client, errors = _client(settings.REDIS_URL)
    version = secrets.token_hex(16)
    try:
        return version if client.set(version_key(key_id), version, nx=True) else None
    except errors:
        forget_all()
        return None


def forget_all() -> None:
    """Drop every entry: Redis was unreachable, so a version change may have been
    missed. For ``RETRY_AFTER`` seconds nothing is cached (or asked of Redis here), so
    an outage costs a request no more Redis timeouts than the rate limiter's own."""
    global _redis_away_until
    _redis_away_until = time.monotonic() + RETRY_AFTER
    with _lock:
        _entries.clear()


def remember(api_key: ApiKey, version: str) -> None:
    values = {name: getattr(api_key, name) for name in FIELDS}
    with _lock:
        _entries[api_key.pk] = Entry(values, version, time.monotonic() + TTL)


def touched(key_id: str, last_used_at) -> None:
    """Keep the entry's ``last_used_at`` as written, so the next requests do not write it
    again (``api_key_touch`` writes at most once per resolution)."""
    with _lock:
        entry = _entries.get(key_id)
        if entry is not None:
            values = {**entry.values, "last_used_at": last_used_at}
            _entries[key_id] = Entry(values, entry.version, entry.expires_at)


def forget(key_id: str) -> None:
    with _lock:
        _entries.pop(key_id, None)


def version_bump(key_id: str) -> None:
    """Make every process's cached copy of the key stale (see the module docstring)."""
    forget(key_id)
    if not enabled():
        return
    client, errors = _client(settings.REDIS_URL)
    try:
        client.set(version_key(key_id), secrets.token_hex(16))
    except errors:
        logger.exception(
            "Redis did not answer: other processes may accept API key %s for up to %d s",
            key_id,
            TTL,
        )
