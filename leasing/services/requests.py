"""A request's life outside allocation: the partner queues it (``lease_request_create``)
or withdraws it (``lease_request_cancel``); ops add notes (``request_note_add``) and close
it as partial or rejected (``request_close``).

Locks: the lease request only (``locks.lock_request``); closing also takes over the
request's claim while holding that lock. A cancel locks the request, as allocation does
first, so it cannot deadlock with an allocation.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from layers_ops.api.exceptions import BillingExhausted, Conflict
from layers_ops.partners.models import ApiKey
from layers_ops.staff.once import once_take

from .. import selectors
from ..events import request_closed_emit
from ..models import (
    LeaseRequest,
    NoteVisibility,
    RequestNote,
    RequestStatus,
)
from ..sla import sla_due_at
from ..validators import InvalidValue, note_body_clean, vertical_key
from .claims import claim_locked
from .errors import LeasingError, RequestClosed
from .locks import assigned_as_shown, lock_request


def lease_request_create(
    *, organization_id: str, project_id: str, api_key: ApiKey | None, payload: dict
) -> LeaseRequest:
    """Queue a partner's request. Nothing is charged until ops assigns accounts.

    Refused with 404 when the project is not the organization's, with 402 when the
    wallet would not cover even one account-month, and with 409 when the partner's own
    requestId is already taken in the organization. The one write is the INSERT, so a
    refusal leaves nothing behind; inside a caller's transaction (the idempotency claim)
    a taken requestId rolls back to a savepoint and never poisons that transaction.
    """
    project = selectors.project_get(
        organization_id=organization_id, project_id=project_id, with_wallet_balance=True
    )
    price = settings.LEASE_PRICE_CENTS
    balance = project.wallet_balance_cents
    if balance < price:
        raise BillingExhausted(
            f"The wallet holds ${balance / 100:,.2f}; one account costs ${price / 100:,.2f} "
            "a month. Top up and retry: nothing was queued.",
            details=[{"field": None, "message": f"balanceCents={balance} < {price}"}],
        )
    niche = payload["niche"]
    now = timezone.now()
    lease_request = LeaseRequest(
        organization_id=organization_id,
        project=project,
        api_key=api_key,
        count=payload["count"],
        vertical=niche["vertical"],
        vertical_key=vertical_key(niche["vertical"]),
        audience=niche.get("audience") or "",
        language=niche.get("language") or "",
        geo=niche.get("geo") or [],
        target=payload.get("target") or "",
        partner_note=payload.get("note") or "",
        submitted_at=now,
        sla_due_at=sla_due_at(now),
    )
    partner_id = payload.get("requestId")
    if not partner_id:
        # A fresh lreq_ ULID cannot collide: no savepoint needed around the INSERT.
        lease_request.save(force_insert=True)
        return lease_request
    lease_request.public_id = partner_id
    try:
        with transaction.atomic():
            lease_request.save(force_insert=True)
    except IntegrityError:
        raise Conflict(
            f"requestId {partner_id!r} is already used in your organization.",
            details=[{"field": "requestId", "message": "Already used."}],
        ) from None
    return lease_request


@transaction.atomic
def request_note_add(
    *,
    lease_request: LeaseRequest,
    body: str,
    visibility: str,
    author,
    once: str | None = None,
    once_part: str = "",
) -> RequestNote:
    """A note on a request; partner-visible ones show as the request's ``note``.

    Refused (``LeasingError``, saying how long it is) when empty or over
    ``NOTE_MAX_LENGTH`` characters: never cut (``validators.note_body_clean``). ``once``
    (the form's one-time token, ``layers_ops.staff.once``; ``once_part`` tells the notes
    of one form apart) makes a repeated submit of the form write nothing
    (``AlreadyDone``)."""
    ticket = once_take(once, user=author, part=once_part)
    try:
        body = note_body_clean(body)
    except InvalidValue as exc:
        raise LeasingError(str(exc)) from None
    note = RequestNote.objects.create(
        lease_request=lease_request, body=body, visibility=visibility, author=author
    )
    shown = "partner-visible" if visibility == NoteVisibility.PARTNER else "internal"
    ticket.done(f"{shown} note added to {lease_request.public_id}")
    return note


@transaction.atomic
def request_close(
    *,
    lease_request: LeaseRequest,
    outcome: str,
    note: str,
    partner_visible: bool,
    actor,
    take_over: bool = False,
    expect_assigned: int | None = None,
    once: str | None = None,
) -> LeaseRequest:
    """Close an open request with fewer accounts than asked (``partial``, at least one
    assigned) or none (``rejected``). A note saying why is required. Nothing is billed:
    only the accounts already assigned were charged, when they were assigned. Someone
    else's claim refuses it (``ClaimTaken``) unless ``take_over``; closing an unclaimed
    request claims it for ``actor``. A page drawn with another assigned count than now
    (``expect_assigned``) is refused (``RequestChanged``); a second submit of the same
    page (``once``) closes nothing and writes no second note (``AlreadyDone``)."""
    ticket = once_take(once, user=actor)
    if outcome not in (RequestStatus.PARTIAL, RequestStatus.REJECTED):
        raise LeasingError("Close a request as partial or rejected.")
    if not note or not note.strip():
        raise LeasingError("Say why: closing a request needs a note.")
    lease_request = lock_request(lease_request)
    if lease_request.status != RequestStatus.REQUESTED:
        raise RequestClosed(
            f"Request {lease_request.public_id} is already {lease_request.status}.",
            lease_request=lease_request,
        )
    assigned = lease_request.leases.count()
    assigned_as_shown(lease_request, assigned=assigned, expected=expect_assigned)
    claim_locked(lease_request, actor=actor, take_over=take_over)  # working it claims it
    if outcome == RequestStatus.PARTIAL and not assigned:
        raise LeasingError("Nothing is assigned yet: reject the request instead.")
    if outcome == RequestStatus.REJECTED and assigned:
        raise LeasingError(
            f"{assigned} account(s) are already assigned: close it as partial instead."
        )
    request_note_add(
        lease_request=lease_request,
        body=note,
        visibility=NoteVisibility.PARTNER if partner_visible else NoteVisibility.INTERNAL,
        author=actor,
    )
    lease_request.status = outcome
    lease_request.closed_at = timezone.now()
    lease_request.closed_by = actor
    lease_request.save(update_fields=["status", "closed_at", "closed_by"])
    request_closed_emit(lease_request)
    ticket.done(f"{lease_request.public_id} closed as {outcome}")
    return lease_request


@transaction.atomic
def lease_request_cancel(*, lease_request: LeaseRequest, api_key: ApiKey | None) -> LeaseRequest:
    """The partner withdraws a request: ``cancelled``, or ``partial`` if some accounts
    were already assigned (those stay leased and billed). Nothing is charged or refunded.

    The request row is locked first, as allocation locks it, so a cancel racing an
    allocation either waits for it and closes as ``partial``, or closes the request
    first and the allocation, locking it next, refuses (``RequestClosed``). Cancelling a
    request already ``cancelled`` returns it unchanged; any other final status raises
    ``RequestClosed`` naming it and carrying the row as locked. Returns the row as locked
    and changed. An internal note (author: the system) records it.
    """
    lease_request = lock_request(lease_request)
    if lease_request.status == RequestStatus.CANCELLED:
        return lease_request
    if lease_request.status != RequestStatus.REQUESTED:
        raise RequestClosed(
            f"Request {lease_request.public_id} is already {lease_request.status}: "
            "only a request still being worked can be cancelled.",
            lease_request=lease_request,
        )
    assigned = lease_request.leases.count()
    by = f"API key {api_key.pk}" if api_key is not None else "the partner"
    if assigned:
        lease_request.status = RequestStatus.PARTIAL
        body = (
            f"Cancelled by the partner ({by}) with {assigned} of {lease_request.count} "
            "account(s) assigned: those stay leased and billed; it closes as partial."
        )
    else:
        lease_request.status = RequestStatus.CANCELLED
        body = f"Cancelled by the partner ({by}) before any account was assigned."
    request_note_add(
        lease_request=lease_request, body=body, visibility=NoteVisibility.INTERNAL, author=None
    )
    lease_request.closed_at = timezone.now()
    lease_request.closed_by = None
    lease_request.save(update_fields=["status", "closed_at", "closed_by"])
    request_closed_emit(lease_request)
    return lease_request
