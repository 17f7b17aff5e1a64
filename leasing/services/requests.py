"""A request's life outside allocation: the partner queues it (``lease_request_create``)
or withdraws it (``lease_request_cancel``); ops add notes (``request_note_add``) and close
it as partial or rejected (``request_close``).

Locks: the lease request only (``locks.lock_request``); closing also takes over the
request's claim while holding that lock. A cancel locks the request, as allocation does
first, so it cannot deadlock with an allocation.
"""

from contextlib import nullcontext
from functools import cache

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Field
from django.utils import timezone

from billing.selectors import wallet_balance_sql
from layers_ops.api.exceptions import BillingExhausted, Conflict, NotFound
from layers_ops.api.idempotency import ClaimTaken
from layers_ops.partners.models import ApiKey, Project
from layers_ops.staff.once import once_take

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

    ``lease_request_build`` then ``lease_request_queue``: refused with 404 when the
    project is not the organization's, with 402 when the wallet would not cover even
    one account-month, and with 409 when the partner's own requestId is already taken
    in the organization.
    """
    lease_request = lease_request_build(
        organization_id=organization_id, project_id=project_id, api_key=api_key, payload=payload
    )
    lease_request_queue(lease_request=lease_request)
    return lease_request


def lease_request_build(
    *, organization_id: str, project_id: str, api_key: ApiKey | None, payload: dict
) -> LeaseRequest:
    """The request as it will be queued, ids and times set, not saved: its answer can be
    rendered (and claimed under an Idempotency-Key) before the statement that queues it."""
    niche = payload["niche"]
    now = timezone.now()
    lease_request = LeaseRequest(
        organization_id=organization_id,
        project_id=project_id,
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
    # A partner's own id may be taken already; a fresh lreq_ ULID cannot be.
    lease_request.public_id_from_partner = bool(payload.get("requestId"))
    if lease_request.public_id_from_partner:
        lease_request.public_id = payload["requestId"]
    return lease_request


@cache
def _queue_sql() -> tuple[str, list[Field]]:
    fields = [f for f in LeaseRequest._meta.concrete_fields if not f.primary_key]
    project = Project._meta.db_table
    sql = (
        "WITH project AS ("
        f"SELECT {wallet_balance_sql('p.organization_id')} AS balance "
        f"FROM {project} p WHERE p.organization_id = %s AND p.id = %s), "
        "allowed AS (SELECT 1 FROM project WHERE balance >= %s), "
        "claim AS ({claim}), "
        f"queued AS (INSERT INTO {LeaseRequest._meta.db_table} "
        f"({', '.join(f.column for f in fields)}) "
        f"SELECT {', '.join(['%s'] * len(fields))} FROM claim RETURNING id) "
        "SELECT (SELECT balance FROM project), (SELECT id FROM queued)"
    )
    return sql, fields


def lease_request_queue(*, lease_request: LeaseRequest, claim=None) -> None:
    """Queue a built request in ONE SQL statement: find the project in the organization,
    read its wallet's balance, and INSERT the row only when both allow it, with the
    Idempotency-Key's claim in the same statement (``claim``: ``Claim.insert_sql`` for
    the rendered answer, called with the name of the CTE that allows the work). The
    ORM's three statements (project with balance, INSERT, then the claim's INSERT) and
    the transaction around them cost ~1.5 ms of CPU per POST; this one statement in
    autocommit, no BEGIN or COMMIT, is atomic on its own.

    Raises ``NotFound`` (404), ``BillingExhausted`` (402), ``Conflict`` (409: a partner
    requestId already used), or ``ClaimTaken`` (a concurrent request claimed the key).
    Nothing is written unless the row is queued. A partner requestId adds a savepoint,
    so a taken one never poisons a caller's transaction.
    """
    price = settings.LEASE_PRICE_CENTS
    sql, fields = _queue_sql()
    claim_sql, claim_params = claim(gate="allowed") if claim else ("SELECT 1 FROM allowed", [])
    params = [
        lease_request.organization_id,
        lease_request.project_id,
        price,
        *claim_params,
        *(f.get_db_prep_save(f.pre_save(lease_request, True), connection) for f in fields),
    ]
    from_partner = getattr(lease_request, "public_id_from_partner", False)
    partner_id = lease_request.public_id if from_partner else None
    try:
        with transaction.atomic() if partner_id else nullcontext(), connection.cursor() as cursor:
            cursor.execute(sql.replace("{claim}", claim_sql), params)
            balance, pk = cursor.fetchone()
    except IntegrityError:
        if not partner_id:
            raise
        raise Conflict(
            f"requestId {partner_id!r} is already used in your organization.",
            details=[{"field": "requestId", "message": "Already used."}],
        ) from None
    if balance is None:
        raise NotFound(f"No project {lease_request.project_id!r} in your organization.")
    if balance < price:
        raise BillingExhausted(
            f"The wallet holds ${balance / 100:,.2f}; one account costs ${price / 100:,.2f} "
            "a month. Top up and retry: nothing was queued.",
            details=[{"field": None, "message": f"balanceCents={balance} < {price}"}],
        )
    if pk is None:
        raise ClaimTaken()
    lease_request.pk = pk
    lease_request._state.adding = False


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
