"""Every state change to organizations, projects and API keys."""

import hashlib
import hmac
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from . import keycache
from .models import ApiKey, KeyEnvironment, Organization, Project, RateLimitTier, Scope

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SECRET_LENGTH = 40
TOKEN_PREFIX = "lp"
DEFAULT_SCOPES = (Scope.LEASED_READ, Scope.LEASED_WRITE)
# last_used_at is refreshed at most this often, so a busy key does not write on every call.
LAST_USED_RESOLUTION = timedelta(minutes=5)


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    token: str  # the only time the full key exists outside the caller's hands


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def validate_scopes(scopes) -> list[str]:
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in Scope.values]
    if unknown or not scopes:
        raise ValidationError(
            f"Unknown scope(s): {', '.join(unknown)}." if unknown else "At least one scope."
        )
    return scopes


@transaction.atomic
def organization_create(*, name: str, project_name: str | None = None) -> Organization:
    organization = Organization.objects.create(name=name)
    if project_name:
        Project.objects.create(organization=organization, name=project_name)
    return organization


@transaction.atomic
def project_create(*, organization: Organization, name: str) -> Project:
    """A project; one of a live organization that has a test twin is mirrored there."""
    project = Project.objects.create(organization=organization, name=name)
    twin = Organization.objects.filter(live_organization=organization).first()
    if twin is not None:
        Project.objects.get_or_create(organization=twin, name=name)
    return project


# What other apps do when a test-mode twin is created, in its transaction: billing opens
# and funds its sandbox wallet (registered by ``BillingConfig.ready``; partners never
# imports billing).
SandboxOpener = Callable[[Organization], None]
_sandbox_openers: list[SandboxOpener] = []


def register_sandbox_opener(opener: SandboxOpener) -> None:
    if opener not in _sandbox_openers:
        _sandbox_openers.append(opener)


def sandbox_name(live: Organization) -> str:
    return f"{live.name} (test)"


@transaction.atomic
def organization_sandbox_get_or_create(*, organization: Organization) -> Organization:
    """The test-mode twin of a live organization, created on first use with the
    registered openers run (its funded sandbox wallet); every live project has a mirror
    of the same name in it (added now if the live org gained projects since). A twin is
    its own twin. The live row is locked, so two first uses create one twin."""
    if organization.is_test:
        return organization
    live = Organization.objects.select_for_update().get(pk=organization.pk)
    twin = Organization.objects.filter(live_organization=live).first()
    if twin is None:
        twin = Organization.objects.create(
            name=sandbox_name(live), environment=KeyEnvironment.TEST, live_organization=live
        )
        for opener in _sandbox_openers:
            opener(twin)
    mirrored = set(twin.projects.values_list("name", flat=True))
    Project.objects.bulk_create(
        Project(organization=twin, name=name)
        for name in live.projects.order_by("name").values_list("name", flat=True)
        if name not in mirrored
    )
    return twin


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes=DEFAULT_SCOPES,
    rate_limit_tier: str = RateLimitTier.STANDARD,
    environment: str = KeyEnvironment.LIVE,
) -> IssuedKey:
    if rate_limit_tier not in RateLimitTier.values:
        raise ValidationError(f"Unknown rate-limit tier {rate_limit_tier!r}.")
    if environment not in KeyEnvironment.values:
        raise ValidationError(f"Unknown key environment {environment!r}.")
    if environment == KeyEnvironment.TEST:
        # A test key belongs to the twin: test data lives there, apart from live data.
        organization = organization_sandbox_get_or_create(organization=organization)
    elif organization.is_test:
        raise ValidationError("A live key belongs to a live organization, not its test twin.")
    secret = "".join(secrets.choice(BASE62) for _ in range(SECRET_LENGTH))
    api_key = ApiKey.objects.create(
        organization=organization,
        name=name,
        environment=environment,
        scopes=validate_scopes(scopes),
        rate_limit_tier=rate_limit_tier,
        secret_hash=hash_secret(secret),
    )
    token = f"{TOKEN_PREFIX}_{environment}_{api_key.token_key_id}_{secret}"
    return IssuedKey(api_key=api_key, token=token)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Revoke the key, in every web process at once: its cached copies are made stale
    before the commit (a process reading the row meanwhile caches it under a version
    already replaced) and again after it (``keycache``)."""
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    keycache.version_bump(api_key.pk)
    transaction.on_commit(lambda: keycache.version_bump(api_key.pk))
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_from_token(token: str) -> ApiKey | None:
    """The active key a token names, or None. Compares the secret in constant time.

    A key this process verified before comes from ``keycache`` without SQL, marked
    ``unconfirmed`` until the request's Redis round trip confirms it is unchanged
    (``api_key_confirm`` when that round trip cannot).
    """
    parts = token.split("_")
    if len(parts) != 4 or parts[0] != TOKEN_PREFIX or parts[1] not in KeyEnvironment.values:
        return None
    _, environment, key_ulid, secret = parts
    if not key_ulid.isalnum() or not secret.isalnum():
        return None
    key_id = f"key_{key_ulid}"
    entry = keycache.lookup(key_id)
    if entry is not None:
        if entry.values["environment"] != environment:
            return None
        if not hmac.compare_digest(hash_secret(secret), entry.values["secret_hash"]):
            return None
        return entry.api_key()
    api_key = _api_key_read(key_id)
    if api_key is None or api_key.environment != environment:
        # Hash anyway so unknown keys cost the same time as wrong secrets.
        hmac.compare_digest(hash_secret(secret), "0" * 64)
        return None
    if not hmac.compare_digest(hash_secret(secret), api_key.secret_hash):
        return None
    return api_key


def _api_key_read(key_id: str) -> ApiKey | None:
    """The active key from the database, cached under the version read before it."""
    version = keycache.version_read(key_id)
    try:
        api_key = ApiKey.objects.get(id=key_id, revoked_at__isnull=True)
    except ApiKey.DoesNotExist:
        return None
    if version == "":
        version = keycache.version_create(key_id)
    if version:
        keycache.remember(api_key, version)
    return api_key


def api_key_confirm(*, api_key: ApiKey) -> ApiKey | None:
    """A cached key whose version could not be confirmed (it changed, or Redis did not
    answer): the row as the database holds it now, or None when it was revoked."""
    keycache.forget(api_key.pk)
    return _api_key_read(api_key.pk)


def api_key_touch(*, api_key: ApiKey) -> None:
    """Record use, at most once per LAST_USED_RESOLUTION for a key."""
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_RESOLUTION:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now
    keycache.touched(api_key.pk, now)
