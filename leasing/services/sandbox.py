"""Test mode's fulfilment: a request made with an ``lp_test_`` key (its organization is
a test twin) is never worked by ops; a job (``leasing.tasks.sandbox_request_fulfil``,
queued by ``submit.lease_request_submit`` in the request's transaction) fulfils it
``SANDBOX_FULFIL_SECONDS`` after it was queued, through the same services a live
fulfilment uses (``allocation.allocation_assign``, ``requests.request_close``) as the
system actor, so the sandbox wallet is charged and the same webhooks are sent.

The accounts are fakes made for the request in the twin's sandbox pool, each derived
from the request's id and its place in the request, so the same request gets the same
``sa_`` ids and handles in every run. Magic verticals choose the outcome, as Stripe's
test cards do (``MAGIC_VERTICALS``).

Locks: the lease request first (``locks.lock_request``), then what allocation locks.
A request no longer open (cancelled first, or fulfilled by an earlier run of the job) is
left as it is: the job may run twice.
"""

import hashlib
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from ulid import ULID

from billing.selectors import wallet_balance_cents
from layers_ops.partners.models import Organization

from ..models import AccountState, LeaseRequest, Pool, RequestStatus, SocialAccount
from .allocation import allocation_assign
from .errors import LeasingError
from .history import log_moves
from .locks import lock_request
from .requests import request_close

SANDBOX_PARTIAL = "sandbox-partial"
SANDBOX_REJECT = "sandbox-reject"
SANDBOX_SLOW = "sandbox-slow"
SLOW_SECONDS = 60 * 60
MAGIC_VERTICALS = {
    SANDBOX_PARTIAL: "half the accounts (rounded down) are assigned, then it closes partial",
    SANDBOX_REJECT: "nothing is assigned; it closes rejected",
    SANDBOX_SLOW: "fulfilled in full, an hour after it was queued",
}
PARTIAL_NOTE = "Test mode (sandbox-partial): {assigned} of {count} account(s) assigned."
REJECT_NOTE = "Test mode (sandbox-reject): no accounts fit this niche."
SHORT_NOTE = (
    "Test mode: the sandbox wallet covered {assigned} of {count} account(s). Top it up with "
    "POST /v1/wallet/sandbox-top-up."
)


def sandbox_fulfil_at(lease_request: LeaseRequest) -> datetime:
    """When the job fulfils the request: ``SANDBOX_FULFIL_SECONDS`` after it was queued,
    an hour for ``sandbox-slow``."""
    slow = lease_request.vertical_key == SANDBOX_SLOW
    seconds = SLOW_SECONDS if slow else settings.SANDBOX_FULFIL_SECONDS
    return lease_request.submitted_at + timedelta(seconds=seconds)


def sandbox_pool_for(organization: Organization) -> Pool:
    pool, _ = Pool.objects.get_or_create(
        sandbox_of=organization,
        defaults={
            "name": f"Sandbox · {organization.name} · {organization.pk}",
            "notes": "Fake accounts of test-mode requests; never leased to live requests.",
        },
    )
    return pool


def _identity(seed: str) -> tuple[str, str, int]:
    digest = hashlib.sha256(seed.encode()).digest()
    return (
        f"sa_{ULID.from_bytes(digest[:16])}",
        f"sandbox_{digest[16:22].hex()}",
        1_000 + int.from_bytes(digest[22:26]) % 99_000,
    )


def sandbox_accounts_make(*, lease_request: LeaseRequest, start: int, count: int) -> list[str]:
    """Ready fake accounts for places ``start``… of the request, in its sandbox pool: each
    id and handle derived from the request id and the place. Another organization's
    request with the same id already holding those names gets ones salted with this
    organization's id (deterministic still)."""
    pool = sandbox_pool_for(lease_request.organization)
    made, ids = [], []
    for index in range(start, start + count):
        seeds = [
            f"{lease_request.public_id}:{index}",
            f"{lease_request.organization_id}:{lease_request.public_id}:{index}",
        ]
        for seed in seeds:
            account_id, handle, followers = _identity(seed)
            found = SocialAccount.objects.filter(pk=account_id).first()
            if found is None:
                if SocialAccount.objects.filter(platform="tiktok", handle=handle).exists():
                    continue
                now = timezone.now()
                made.append(
                    SocialAccount.objects.create(
                        id=account_id,
                        pool=pool,
                        handle=handle,
                        followers=followers,
                        follower_geos=list(lease_request.geo),
                        state=AccountState.READY,
                        warmed_since=now,
                        state_changed_at=now,
                    )
                )
                ids.append(account_id)
                break
            if found.pool_id == pool.pk and found.state == AccountState.READY:
                ids.append(account_id)
                break
        else:
            raise LeasingError(f"No sandbox account could be made for {lease_request.public_id}.")
    log_moves(
        made,
        from_states={a.pk: "" for a in made},
        to_state=AccountState.READY,
        actor=None,
        reason=f"Sandbox account for {lease_request.public_id}",
    )
    return ids


@transaction.atomic
def sandbox_request_fulfil(*, lease_request_id: int) -> str:
    """Fulfil a test-mode request as its magic vertical says; returns its status after.
    A request that is not open any more (cancelled, already fulfilled) is left alone."""
    lease_request = LeaseRequest.objects.filter(pk=lease_request_id).first()
    if lease_request is None:
        return "gone"
    lease_request = lock_request(lease_request)
    if lease_request.status != RequestStatus.REQUESTED:
        return lease_request.status
    if not lease_request.organization.is_test:
        raise LeasingError(f"{lease_request.public_id} is live: ops fulfil it, not the sandbox.")
    count, magic = lease_request.count, lease_request.vertical_key
    assigned = lease_request.leases.count()
    target = 0 if magic == SANDBOX_REJECT else count // 2 if magic == SANDBOX_PARTIAL else count
    covers = wallet_balance_cents(organization_id=lease_request.organization_id) // (
        settings.LEASE_PRICE_CENTS
    )
    wanted = max(min(target - assigned, covers), 0)
    if wanted:
        accounts = sandbox_accounts_make(lease_request=lease_request, start=assigned, count=wanted)
        lease_request = allocation_assign(
            lease_request=lease_request, accounts=accounts, actor=None, allow_poor_fit=True
        ).lease_request
        assigned += wanted
    if lease_request.status != RequestStatus.REQUESTED:
        return lease_request.status
    if assigned < target:
        note = SHORT_NOTE.format(assigned=assigned, count=count)
    elif magic == SANDBOX_PARTIAL and assigned:
        note = PARTIAL_NOTE.format(assigned=assigned, count=count)
    else:
        note = REJECT_NOTE
    lease_request = request_close(
        lease_request=lease_request,
        outcome=RequestStatus.PARTIAL if assigned else RequestStatus.REJECTED,
        note=note,
        partner_visible=True,
        actor=None,
    )
    return lease_request.status
