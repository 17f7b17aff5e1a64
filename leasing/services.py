"""Every state change in leasing. Each public function is one database transaction."""

from django.conf import settings
from django.db import IntegrityError, transaction

from layers_ops.api.exceptions import BillingExhausted, Conflict
from layers_ops.partners.models import ApiKey

from . import selectors
from .models import NOTE_MAX_LENGTH, LeaseRequest, RequestNote


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
    lease_request = LeaseRequest(
        organization_id=organization_id,
        project=project,
        api_key=api_key,
        count=payload["count"],
        vertical=niche["vertical"],
        audience=niche.get("audience") or "",
        language=niche.get("language") or "",
        geo=niche.get("geo") or [],
        target=payload.get("target") or "",
        partner_note=payload.get("note") or "",
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
    *, lease_request: LeaseRequest, body: str, visibility: str, author
) -> RequestNote:
    """A note on a request; partner-visible ones show as the request's ``note``."""
    body = body.strip()
    if not body:
        raise ValueError("A note needs text.")
    if len(body) > NOTE_MAX_LENGTH:
        raise ValueError(f"A note is at most {NOTE_MAX_LENGTH} characters.")
    return RequestNote.objects.create(
        lease_request=lease_request, body=body, visibility=visibility, author=author
    )
