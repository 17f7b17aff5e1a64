"""Who is working a request: claim, take over, release (``request_claim``,
``request_unclaim``), and ``claim_locked``, the rule allocation and closing apply to a
request they already hold locked.

Locks: the lease request only (``locks.lock_request``).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from layers_ops.staff.once import once_take

from ..models import (
    LeaseRequest,
    NoteVisibility,
    RequestNote,
    RequestStatus,
)
from .errors import LeasingError, RequestClosed
from .locks import lock_request


class ClaimTaken(LeasingError):
    """Someone else holds the claim; take it over explicitly."""

    def __init__(self, message: str, *, holder):
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Claim:
    lease_request: LeaseRequest
    previous_holder: object | None  # the user whose claim was taken over, if any


@transaction.atomic
def request_claim(
    *, lease_request: LeaseRequest, actor, take_over: bool = False, once: str | None = None
) -> Claim:
    """Mark a request as being worked by ``actor``: one person at a time.

    Claiming a request someone else holds is refused unless ``take_over``; a take-over
    says whose claim it was (and leaves an internal note, so the history shows it).
    ``once``: the form's one-time token, spent per request (a list action claims many)."""
    ticket = once_take(once, user=actor, part=f"claim:{lease_request.pk}")
    lease_request = lock_request(lease_request)
    if lease_request.status != RequestStatus.REQUESTED:
        raise RequestClosed(
            f"Request {lease_request.public_id} is already {lease_request.status}.",
            lease_request=lease_request,
        )
    holder = claim_locked(lease_request, actor=actor, take_over=take_over)
    taken = f" (taken over from {holder.get_username()})" if holder is not None else ""
    ticket.done(f"{lease_request.public_id} claimed{taken}")
    return Claim(lease_request=lease_request, previous_holder=holder)


def claim_locked(lease_request: LeaseRequest, *, actor, take_over: bool):
    """Claim a request already locked by the caller for ``actor`` (the system when None);
    returns whose claim was taken over, or None. The one place a claim changes hands:
    someone else's claim is refused unless ``take_over``, and a take-over leaves an
    internal note naming whose claim it was. The system holds no claim: it works a
    request unclaimed, or takes one over (with the note) and leaves it unclaimed."""
    holder = lease_request.claimed_by
    if holder is not None and actor is not None and holder.pk == actor.pk:
        return None
    if holder is not None and not take_over:
        raise ClaimTaken(
            f"{holder.get_username()} is working request {lease_request.public_id} "
            f"(claimed {timezone.localtime(lease_request.claimed_at):%a %d %b %H:%M %Z}). "
            "Take it over to work it yourself.",
            holder=holder,
        )
    if holder is None and actor is None:
        return None
    lease_request.claimed_by = actor
    lease_request.claimed_at = timezone.now() if actor is not None else None
    lease_request.save(update_fields=["claimed_by", "claimed_at"])
    if holder is not None:
        who = "Took over" if actor is not None else "The system took over"
        RequestNote.objects.create(
            lease_request=lease_request,
            body=f"{who} the claim from {holder.get_username()}.",
            visibility=NoteVisibility.INTERNAL,
            author=actor,
        )
    return holder


@transaction.atomic
def request_unclaim(*, lease_request: LeaseRequest, actor, once: str | None = None) -> LeaseRequest:
    """Give a request back to the queue. Only the holder releases their own claim
    (anyone else takes it over instead). ``once`` as for ``request_claim``."""
    ticket = once_take(once, user=actor, part=f"unclaim:{lease_request.pk}")
    lease_request = lock_request(lease_request)
    holder = lease_request.claimed_by
    if holder is None:
        return lease_request
    if holder.pk != actor.pk:
        raise ClaimTaken(
            f"Request {lease_request.public_id} is claimed by {holder.get_username()}, not "
            "you: take it over instead.",
            holder=holder,
        )
    lease_request.claimed_by = None
    lease_request.claimed_at = None
    lease_request.save(update_fields=["claimed_by", "claimed_at"])
    ticket.done(f"{lease_request.public_id} released to the queue")
    return lease_request
