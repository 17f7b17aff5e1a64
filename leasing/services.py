"""Every state change in leasing. Each public function is one database transaction."""

from django.conf import settings
from django.db import IntegrityError, transaction

from billing.selectors import wallet_balance_cents
from layers_ops.api.exceptions import BillingExhausted, Conflict
from layers_ops.partners.models import ApiKey, Project

from .models import NOTE_MAX_LENGTH, LeaseRequest, RequestNote


def lease_request_create(
    *, project: Project, api_key: ApiKey | None, payload: dict
) -> LeaseRequest:
    """Queue a partner's request. Nothing is charged until ops assigns accounts.

    Refused with 402 when the wallet would not cover even one account, and with 409 when
    the partner's own requestId is already taken in the organization. The insert is the
    only write, in its own atomic block (a savepoint inside a caller's transaction, such
    as the idempotency claim), so a refusal never poisons the caller's transaction.
    """
    price = settings.LEASE_PRICE_CENTS
    balance = wallet_balance_cents(organization_id=project.organization_id)
    if balance < price:
        raise BillingExhausted(
            f"The wallet holds ${balance / 100:,.2f}; one account costs ${price / 100:,.2f} "
            "a month. Top up and retry: nothing was queued.",
            details=[{"field": None, "message": f"balanceCents={balance} < {price}"}],
        )
    niche = payload["niche"]
    fields = {
        "organization_id": project.organization_id,
        "project": project,
        "api_key": api_key,
        "count": payload["count"],
        "vertical": niche["vertical"],
        "audience": niche.get("audience") or "",
        "language": niche.get("language") or "",
        "geo": niche.get("geo") or [],
        "target": payload.get("target") or "",
        "partner_note": payload.get("note") or "",
    }
    if payload.get("requestId"):
        fields["public_id"] = payload["requestId"]
    try:
        with transaction.atomic():
            return LeaseRequest.objects.create(**fields)
    except IntegrityError:
        raise Conflict(
            f"requestId {payload.get('requestId')!r} is already used in your organization.",
            details=[{"field": "requestId", "message": "Already used."}],
        ) from None


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
