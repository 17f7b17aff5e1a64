"""Every state change in leasing. Each public function is one database transaction.

Locks are always taken in one order, each kind in primary-key order, so no two services
can deadlock: lease request, then social accounts, then leases, then (inside billing)
the ledger accounts.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from billing.money import dollars
from billing.services import SYSTEM_ACTOR, InsufficientFunds, LeaseCharge, lease_charges_post
from layers_ops.api.exceptions import BillingExhausted, Conflict
from layers_ops.partners.models import ApiKey
from layers_ops.staff.once import once_take

from . import fit, ranking, selectors
from .fit import fit_gaps
from .models import (
    ACCOUNT_MOVES,
    AccountEvent,
    AccountState,
    DisconnectReason,
    Lease,
    LeaseRequest,
    LeaseStatus,
    NoteVisibility,
    RequestNote,
    RequestStatus,
    SocialAccount,
)
from .periods import (
    DISCONNECTED,
    PAST_DUE,
    RENEWED,
    owed_periods,
    period_start,
    renewal_settle,
)
from .sla import sla_due_at
from .validators import InvalidValue, note_body_clean, vertical_key


class LeasingError(Exception):
    """A leasing rule refused the change; the message is safe to show to staff."""


class RequestClosed(LeasingError):
    """The request is no longer open. ``lease_request`` is the row as read under its lock,
    so whoever answers names the status the service met, not one read before it."""

    def __init__(self, message: str, *, lease_request: LeaseRequest):
        super().__init__(message)
        self.lease_request = lease_request


class RequestChanged(LeasingError):
    """The request is not as the page that asked for the change showed it (another
    allocation or a partner's cancel came first); nothing was changed."""


def _expect_assigned(lease_request: LeaseRequest, *, assigned: int, expected: int | None):
    """Refuse when the page was drawn from another assigned count than the locked row's."""
    if expected is not None and assigned != expected:
        raise RequestChanged(
            "This request changed since you opened the page: "
            f"{assigned} of {lease_request.count} already assigned. Nothing was changed; "
            "check the request and choose again."
        )


def _accounts(n: int) -> str:
    return f"{n} account" if n == 1 else f"{n} accounts"


class AccountsUnavailable(LeasingError):
    """Someone else took (or moved) an account between choosing and confirming."""

    def __init__(self, message: str, *, account_ids: list[str]):
        super().__init__(message)
        self.account_ids = account_ids


class PoorFit(LeasingError):
    """Some chosen accounts miss the request's language or geo and the caller did not
    accept that; nothing was assigned."""

    def __init__(self, message: str, *, account_ids: list[str]):
        super().__init__(message)
        self.account_ids = account_ids


class WalletShort(LeasingError):
    """The wallet does not cover the whole choice; nothing was assigned or charged."""

    def __init__(self, *, wanted: int, covers: int, balance_cents: int, price_cents: int):
        self.wanted, self.covers = wanted, covers
        self.balance_cents, self.price_cents = balance_cents, price_cents
        super().__init__(
            f"The wallet holds ${balance_cents / 100:,.2f}, which covers {covers} of the "
            f"{wanted} accounts chosen (${price_cents / 100:,.2f} each). Nothing was assigned."
        )


def actor_label(actor) -> str:
    """Who did it, as the logs show it: a username, or ``system``."""
    return actor.get_username() if actor is not None else SYSTEM_ACTOR


def fits(pool, lease_request: LeaseRequest) -> bool:
    """An account fits a request when its pool is tagged with the request's vertical,
    compared as ``vertical_key`` (however the partner or ops spelled it)."""
    key = lease_request.vertical_key or vertical_key(lease_request.vertical)
    return any(vertical_key(tag) == key for tag in pool.tags)


def _lock_request(lease_request: LeaseRequest) -> LeaseRequest:
    return LeaseRequest.objects.select_for_update(of=("self",)).get(pk=lease_request.pk)


def _log_moves(accounts, *, from_states: dict, to_state: str, actor, reason: str) -> None:
    AccountEvent.objects.bulk_create(
        AccountEvent(
            account=account,
            from_state=from_states[account.pk],
            to_state=to_state,
            actor=actor,
            actor_label=actor_label(actor),
            reason=reason,
        )
        for account in accounts
    )


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


@dataclass(frozen=True)
class Allocation:
    lease_request: LeaseRequest
    leases: list[Lease]
    charged_cents: int

    @property
    def account_ids(self) -> list[str]:
        return [lease.social_account_id for lease in self.leases]


@transaction.atomic
def allocation_assign(
    *,
    lease_request: LeaseRequest,
    accounts: Iterable[SocialAccount | str],
    actor,
    take_over: bool = False,
    allow_poor_fit: bool = False,
    expect_assigned: int | None = None,
    once: str | None = None,
) -> Allocation:
    """Assign ready accounts to a request's project, lease them and charge the first month.

    One transaction: the request and the accounts are locked (accounts in pk order),
    every account is re-checked (still ready, fits the niche), one Lease per account is
    created, the accounts become ``leased``, and the wallet is charged once per lease.
    Refused as a whole, with nothing changed, when the request is closed, someone else
    claimed it (``ClaimTaken``, unless ``take_over``), the choice would exceed ``count``,
    an account was taken meanwhile, an account misses the language or geo asked
    (``PoorFit``, unless ``allow_poor_fit``), or the wallet does not cover every account
    chosen (the error says how many it covers), or the page it was chosen on showed
    another assigned count than ``expect_assigned`` (``RequestChanged``). Working an
    unclaimed request claims it for ``actor``. ``once`` is the form's one-time token: a
    second submit of the same page assigns nothing (``AlreadyDone``).
    """
    ticket = once_take(once, user=actor)
    ids = sorted({a.pk if isinstance(a, SocialAccount) else a for a in accounts})
    if not ids:
        raise LeasingError("Choose at least one account.")
    lease_request = _lock_request(lease_request)
    if lease_request.status != RequestStatus.REQUESTED:
        raise RequestClosed(
            f"Request {lease_request.public_id} is {lease_request.status}: it takes no more "
            "accounts.",
            lease_request=lease_request,
        )
    assigned = lease_request.leases.count()
    _expect_assigned(lease_request, assigned=assigned, expected=expect_assigned)
    _claim_locked(lease_request, actor=actor, take_over=take_over)  # working it claims it
    still_needed = lease_request.count - assigned
    if len(ids) > still_needed:
        raise LeasingError(
            f"Request {lease_request.public_id} needs {still_needed} more account(s); "
            f"{len(ids)} were chosen."
        )
    locked = list(
        SocialAccount.objects.select_for_update(of=("self",))
        .select_related("pool")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    missing = sorted(set(ids) - {a.pk for a in locked})
    taken = [a.pk for a in locked if a.state != AccountState.READY]
    if missing or taken:
        raise AccountsUnavailable(
            f"No longer ready (someone else took or moved them): {', '.join(missing + taken)}. "
            "Nothing was assigned; choose again.",
            account_ids=missing + taken,
        )
    unfit = [a.pk for a in locked if not fits(a.pool, lease_request)]
    if unfit:
        raise LeasingError(
            f"Not from a pool tagged '{lease_request.vertical}': {', '.join(unfit)}."
        )
    poor = {
        account: gaps
        for account in locked
        if (
            gaps := fit_gaps(
                pool_language=account.pool.language,
                follower_geos=account.follower_geos,
                lease_request=lease_request,
            )
        )
    }
    if poor and not allow_poor_fit:
        raise PoorFit(
            "Poor fit for "
            f"{lease_request.language or 'any language'} · "
            f"{' '.join(lease_request.geo) or 'any geo'}: "
            + "; ".join(f"@{a.handle} ({a.pk}): {', '.join(gaps)}" for a, gaps in poor.items())
            + ". Nothing was assigned. Assign them only if you accept accounts that do not "
            "match the language/geo.",
            account_ids=[a.pk for a in poor],
        )

    now = timezone.now()
    price = settings.LEASE_PRICE_CENTS
    leases = Lease.objects.bulk_create(
        Lease(
            social_account=account,
            project_id=lease_request.project_id,
            lease_request=lease_request,
            monthly_price_cents=price,
            assigned_at=now,
            assigned_by=actor,
            periods_paid=1,
            next_renewal_at=period_start(now, 1),
        )
        for account in locked
    )
    charges = [
        LeaseCharge(
            organization_id=lease_request.organization_id,
            lease_id=lease.pk,
            period=0,
            amount_cents=price,
            memo=f"Lease @{account.handle}, first month",
            reference=lease_request.public_id,
        )
        for lease, account in zip(leases, locked, strict=True)
    ]
    try:
        lease_charges_post(charges=charges, actor=actor)
    except InsufficientFunds as short:
        raise WalletShort(
            wanted=len(ids),
            covers=short.balance_cents // price,
            balance_cents=short.balance_cents,
            price_cents=price,
        ) from None

    from_states = {a.pk: a.state for a in locked}
    SocialAccount.objects.filter(pk__in=ids).update(state=AccountState.LEASED, state_changed_at=now)
    _log_moves(
        locked,
        from_states=from_states,
        to_state=AccountState.LEASED,
        actor=actor,
        reason=f"Leased for {lease_request.public_id}",
    )
    fields = []
    if lease_request.assigned_at is None:
        lease_request.assigned_at = now
        fields.append("assigned_at")
    if assigned + len(ids) == lease_request.count:
        lease_request.status = RequestStatus.ASSIGNED
        lease_request.closed_at = now
        lease_request.closed_by = actor
        fields += ["status", "closed_at", "closed_by"]
    if fields:
        lease_request.save(update_fields=fields)
    ticket.done(
        f"{_accounts(len(ids))} assigned to {lease_request.public_id} and "
        f"{dollars(price * len(ids))} charged"
    )
    return Allocation(lease_request=lease_request, leases=leases, charged_cents=price * len(ids))


@transaction.atomic
def allocation_pick_best(
    *,
    lease_request: LeaseRequest,
    count: int,
    actor,
    take_over: bool = False,
    allow_poor_fit: bool = False,
    expect_assigned: int | None = None,
    once: str | None = None,
) -> Allocation:
    """Assign the ``count`` best-ranked ready accounts (``leasing.ranking``) to a request.

    One transaction: the request is locked, then the top accounts are locked with
    ``FOR UPDATE SKIP LOCKED`` so accounts another allocation holds right now are passed
    over rather than waited for, then ``allocation_assign`` leases and charges them. If
    fewer than ``count`` fitting accounts are free, nothing is assigned and the error
    says how many are. Claims, poor fits, ``expect_assigned`` and ``once`` are ruled as
    ``allocation_assign`` rules them (the token is spent here, first).
    """
    ticket = once_take(once, user=actor)
    if count < 1:
        raise LeasingError("Pick at least one account.")
    lease_request = _lock_request(lease_request)
    if lease_request.status != RequestStatus.REQUESTED:
        raise RequestClosed(
            f"Request {lease_request.public_id} is {lease_request.status}: it takes no more "
            "accounts.",
            lease_request=lease_request,
        )
    assigned = lease_request.leases.count()
    _expect_assigned(lease_request, assigned=assigned, expected=expect_assigned)
    _claim_locked(lease_request, actor=actor, take_over=take_over)  # working it claims it
    still_needed = lease_request.count - assigned
    if count > still_needed:
        raise LeasingError(
            f"Request {lease_request.public_id} needs {still_needed} more account(s); "
            f"{count} were asked for."
        )
    picked = _lock_best_ready(lease_request, count, fitting_only=not allow_poor_fit)
    if len(picked) < count and not allow_poor_fit:
        # Too few fitting accounts are free: take the best of the rest too, so the refusal
        # (PoorFit, from allocation_assign) names the poor fits the caller could accept.
        picked = _lock_best_ready(lease_request, count, fitting_only=False)
    if len(picked) < count:
        raise AccountsUnavailable(
            f"Only {len(picked)} ready account(s) tagged '{lease_request.vertical}' are free "
            f"right now; {count} were asked for. Nothing was assigned.",
            account_ids=[],
        )
    allocation = allocation_assign(
        lease_request=lease_request,
        accounts=picked,
        actor=actor,
        take_over=take_over,
        allow_poor_fit=allow_poor_fit,
    )
    ticket.done(
        f"{_accounts(count)} assigned to {lease_request.public_id} and "
        f"{dollars(allocation.charged_cents)} charged"
    )
    return allocation


def _lock_best_ready(lease_request: LeaseRequest, count: int, *, fitting_only: bool) -> list[str]:
    """Lock the ``count`` best-ranked ready accounts no other transaction holds; with
    ``fitting_only``, only accounts above the fit floor (``leasing.fit``) are considered,
    so contention on the best accounts never hands a careful caller a poor fit.

    Fast path: rank (unlocked, reading only the top of each pool), then lock the winners
    ``FOR UPDATE SKIP LOCKED``, re-checking they are still ready. If that does not give
    ``count`` accounts (another allocation holds a winner, or took one between the ranking
    and its final read, which then comes back short), rank the whole fitting supply in
    one locking query instead: ``SKIP LOCKED`` there skips every row another transaction
    holds, and rows taken meanwhile fail its ``ready`` filter and do not count towards
    the limit, so contention never leaves free accounts unpicked. The winners already
    locked here are ours and stay in that query's answer (they rank among its best)."""
    pools = ranking.fitting_pools(lease_request)
    followers = Q()
    if fitting_only:
        pools = fit.speaking_pools(lease_request, pools)
        followers = fit.followers_fit(lease_request)
    top = ranking.top_accounts(lease_request, pools, count)
    ids = [account.pk for account in top]
    if ids and not (
        fitting_only and any(not fit.geo_fits(a.follower_geos, lease_request.geo) for a in top)
    ):
        locked = set(
            SocialAccount.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk__in=ids, state=AccountState.READY)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if len(locked) == count:
            return ids
    return list(
        ranking.ranked_accounts(lease_request, pools)
        .filter(followers)
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", flat=True)[:count]
    )


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
    lease_request = _lock_request(lease_request)
    if lease_request.status != RequestStatus.REQUESTED:
        raise RequestClosed(
            f"Request {lease_request.public_id} is already {lease_request.status}.",
            lease_request=lease_request,
        )
    holder = _claim_locked(lease_request, actor=actor, take_over=take_over)
    taken = f" (taken over from {holder.get_username()})" if holder is not None else ""
    ticket.done(f"{lease_request.public_id} claimed{taken}")
    return Claim(lease_request=lease_request, previous_holder=holder)


def _claim_locked(lease_request: LeaseRequest, *, actor, take_over: bool):
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
    lease_request = _lock_request(lease_request)
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
    lease_request = _lock_request(lease_request)
    if lease_request.status != RequestStatus.REQUESTED:
        raise RequestClosed(
            f"Request {lease_request.public_id} is already {lease_request.status}.",
            lease_request=lease_request,
        )
    assigned = lease_request.leases.count()
    _expect_assigned(lease_request, assigned=assigned, expected=expect_assigned)
    _claim_locked(lease_request, actor=actor, take_over=take_over)  # working it claims it
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
    ticket.done(f"{lease_request.public_id} closed as {outcome}")
    return lease_request


@dataclass(frozen=True)
class MoveRefusal:
    account: SocialAccount
    reason: str


@dataclass(frozen=True)
class MoveOutcome:
    moved: list[SocialAccount]
    refused: list[MoveRefusal]


def _move_refusal(account: SocialAccount, to_state: str, leased_now: set[str]) -> str:
    """Why ``account`` may not move to ``to_state``, or "" when it may."""
    if to_state == AccountState.LEASED:
        return "accounts are leased by allocating a request"
    if account.state == to_state:
        return f"already {account.get_state_display().lower()}"
    if to_state not in ACCOUNT_MOVES.get(account.state, set()):
        return (
            f"cannot move from {account.get_state_display().lower()} to "
            f"{AccountState(to_state).label.lower()}"
        )
    if account.pk in leased_now:
        return "leased to a partner: end its lease first"
    return ""


def account_moves_check(accounts: list[SocialAccount], to_state: str) -> dict[str, str]:
    """Why each account could not move to ``to_state`` now ("" when it could), for a
    preview; ``account_moves_bulk`` checks again under lock."""
    leased_ids = [a.pk for a in accounts if a.state == AccountState.LEASED]
    leased_now = set(
        Lease.objects.filter(social_account_id__in=leased_ids, status="assigned").values_list(
            "social_account_id", flat=True
        )
        if leased_ids
        else []
    )
    return {a.pk: _move_refusal(a, to_state, leased_now) for a in accounts}


@transaction.atomic
def account_moves_bulk(
    *,
    accounts: Iterable[SocialAccount | str],
    to_state: str,
    actor,
    reason: str = "",
    once: str | None = None,
) -> MoveOutcome:
    """Move accounts to ``to_state`` where the move makes sense; refuse the others, each
    with a reason. One transaction: the accounts are locked in pk order and re-checked,
    the movable ones change in one UPDATE and each move is logged (AccountEvent) with
    who, when and why. ``leased`` is entered only by ``allocation_assign``, and an account
    with an active lease leaves ``leased`` only when that lease ends. ``once``: the form's
    one-time token; a second submit of the same page moves nothing (``AlreadyDone``).
    """
    ticket = once_take(once, user=actor)
    if to_state not in AccountState.values:
        raise LeasingError(f"Unknown state {to_state!r}.")
    ids = sorted({a.pk if isinstance(a, SocialAccount) else a for a in accounts})
    locked = list(
        SocialAccount.objects.select_for_update(of=("self",)).filter(pk__in=ids).order_by("pk")
    )
    refusals = account_moves_check(locked, to_state)
    moved, refused = [], []
    for account in locked:
        why = refusals[account.pk]
        if why:
            refused.append(MoveRefusal(account, why))
        else:
            moved.append(account)
    if not moved:
        ticket.done(f"no account moved to {to_state} ({len(refused)} refused)")
        return MoveOutcome(moved=[], refused=refused)

    now = timezone.now()
    from_states = {a.pk: a.state for a in moved}
    moved_ids = list(from_states)
    SocialAccount.objects.filter(pk__in=moved_ids).update(state=to_state, state_changed_at=now)
    if to_state == AccountState.READY:
        SocialAccount.objects.filter(pk__in=moved_ids, warmed_since__isnull=True).update(
            warmed_since=now
        )
    for account in moved:
        account.state, account.state_changed_at = to_state, now
        if to_state == AccountState.READY and account.warmed_since is None:
            account.warmed_since = now
    _log_moves(moved, from_states=from_states, to_state=to_state, actor=actor, reason=reason)
    ticket.done(f"{_accounts(len(moved))} moved to {to_state}")
    return MoveOutcome(moved=moved, refused=refused)


@transaction.atomic
def account_move(
    *, account: SocialAccount, to_state: str, actor, reason: str = ""
) -> SocialAccount:
    """Move one account to another state, if that move makes sense; logged with who/when.

    The rules are ``account_moves_bulk``'s; a refusal raises ``LeasingError``.
    """
    outcome = account_moves_bulk(accounts=[account], to_state=to_state, actor=actor, reason=reason)
    if outcome.refused:
        refusal = outcome.refused[0]
        raise LeasingError(f"@{refusal.account.handle}: {refusal.reason}.")
    if not outcome.moved:
        raise SocialAccount.DoesNotExist(f"No social account {account.pk}.")
    return outcome.moved[0]


# Editing an account's details ----------------------------------------------------------

# What the account page edits; the state moves only through account_moves_bulk.
ACCOUNT_EDITABLE = ("handle", "pool", "followers", "follower_geos", "warmed_since")
# What the partner holds while the account is leased (the database refuses it too).
FIXED_WHILE_LEASED = ("handle", "platform")


def _as_recorded(value):
    """A value as the history keeps it: pools by name, times as ISO 8601."""
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "_meta"):
        return str(value)
    return value


@transaction.atomic
def social_account_update(*, account: SocialAccount, changes: dict, actor, reason: str = ""):
    """Change an account's details and record in its history what changed and who did.

    One transaction: the account is locked and re-read, the values that really differ
    are saved, and one AccountEvent holds them as ``{field: [before, after]}``. Nothing
    changed records nothing. Refused (``LeasingError``, nothing written): a field that
    is not editable here (state moves are actions), the handle of a ``leased`` account
    (the partner holds it: the database refuses it as well), moving a leased or retired
    account to another pool, a handle another account has.
    """
    from .intake import RowRefused, handle_clean  # intake builds on this module

    unknown = sorted(set(changes) - set(ACCOUNT_EDITABLE))
    if unknown:
        raise LeasingError(f"Not editable on an account: {', '.join(unknown)}.")
    locked = (
        SocialAccount.objects.select_for_update(of=("self",))
        .select_related("pool")
        .get(pk=account.pk if isinstance(account, SocialAccount) else account)
    )
    if "handle" in changes:
        try:
            changes = {**changes, "handle": handle_clean(changes["handle"])}
        except RowRefused as exc:
            raise LeasingError(f"{str(exc).capitalize()}.") from None
    diff = {
        name: (getattr(locked, name), value)
        for name, value in changes.items()
        if getattr(locked, name) != value
    }
    if not diff:
        return locked
    if locked.state == AccountState.LEASED and set(diff) & set(FIXED_WHILE_LEASED):
        raise LeasingError(
            f"@{locked.handle} is leased to a partner: its handle cannot change until its "
            "lease ends."
        )
    if "pool" in diff and locked.state in (AccountState.LEASED, AccountState.RETIRED):
        raise LeasingError(
            f"@{locked.handle} is {locked.get_state_display().lower()}: it stays in its pool."
        )
    for name, (_, value) in diff.items():
        setattr(locked, name, value)
    try:
        with transaction.atomic():
            locked.save(update_fields=list(diff))
    except IntegrityError:
        raise LeasingError(f"@{locked.handle} is already in the inventory.") from None
    AccountEvent.objects.create(
        account=locked,
        changes={name: [_as_recorded(b), _as_recorded(a)] for name, (b, a) in diff.items()},
        actor=actor,
        actor_label=actor_label(actor),
        reason=reason or "Edited",
    )
    return locked


# Renewals ------------------------------------------------------------------------------
#
# A lease's period n starts n calendar months after its assigned_at (leasing.periods) and
# costs the lease's own monthly_price_cents. Renewal runs (``renew_leases``, from cron)
# charge each due lease for every period it owes, at most once per (lease, period).
#
# Locks, per batch: an advisory lock per organization (only renewals take these), the
# leases, the ledger accounts (inside billing), then the accounts of leases ended unpaid.
# Those accounts are leased, and nothing that locks a leased account goes on to wait for
# the ledger (allocation and account moves refuse a leased account right after locking
# it), so taking them last cannot deadlock.


# How far ahead of now a run may be set: a little, for a clock or a cron a few minutes
# off; more only when asked for (``allow_future``); never more than a year, which is
# already twelve months charged in advance for every lease.
RENEWAL_AHEAD_SLACK = timedelta(days=1)
RENEWAL_AHEAD_MAX = timedelta(days=365)


class RenewalRefused(LeasingError):
    """A renewal run as of a time it must not use; nothing was renewed."""


def renewal_time_check(*, at: datetime, now: datetime, allow_future: bool) -> None:
    """Refuse a run as of more than ``RENEWAL_AHEAD_SLACK`` after ``now`` unless
    ``allow_future``, and as of more than ``RENEWAL_AHEAD_MAX`` after it in any case."""
    stamp = f"{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
    if at > now + RENEWAL_AHEAD_MAX:
        raise RenewalRefused(
            f"{stamp} is more than {RENEWAL_AHEAD_MAX.days} days ahead: renewals never "
            "charge that far in advance."
        )
    if at > now + RENEWAL_AHEAD_SLACK and not allow_future:
        raise RenewalRefused(
            f"{stamp} is {(at - now).days} day(s) ahead: a run as of then charges months "
            "that have not started."
        )


@dataclass
class RenewalSummary:
    """What one renewal run did, counted in leases (and periods and cents charged)."""

    at: datetime
    renewed: int = 0  # brought current: every period owed was charged
    past_due: int = 0  # left past due, retried on the next runs through the grace period
    disconnected: int = 0  # still unpaid after the grace period: ended, account to cooldown
    unpaid_ahead: int = 0  # a run ahead of now only: paid through now, not through ``at``
    periods_charged: int = 0
    charged_cents: int = 0
    leases_claimed: int = 0
    batches: int = 0


def leases_renew(
    *,
    at: datetime | None = None,
    batch_size: int = 1000,
    progress: Callable[[RenewalSummary], None] | None = None,
    allow_future: bool = False,
) -> RenewalSummary:
    """Charge every lease due at ``at`` (default: now) for each period it owes.

    The due leases (assigned, ``next_renewal_at <= at``) are walked in (organization,
    assigned_at, pk) order in batches of up to ``batch_size``. Each batch is one
    transaction of a fixed number of statements, however many leases it holds: claim
    the leases (``FOR UPDATE SKIP LOCKED``; the ledger's unique (lease, period) key backs
    that up), charge them, oldest lease first per wallet and each lease's owed periods
    in order, then save:

    * every owed period paid: ``periods_paid`` and ``next_renewal_at`` advance, billing
      ``current`` again;
    * not all of them: ``past_due`` (since ``at``, unless already past due), retried by
      every run;
    * still unpaid ``RENEWAL_GRACE_DAYS`` after falling past due: ``disconnected``
      (reason ``unpaid``, at ``at``) and its account moves to ``cooldown``, logged as the
      system.

    ``at`` more than a day ahead of now is refused (``RenewalRefused``) unless
    ``allow_future``, and more than a year ahead always. A run ahead of now charges in
    advance, but past due, grace and disconnection go by the real time
    (``periods.renewal_settle``): no ``past_due_since`` or ``disconnected_at`` is ever
    later than now, and a lease paid through now stays current.

    A wallet short of all its leases pays its oldest leases first, across batches (one
    organization's leases follow each other in the walk) and across concurrent runs: on
    PostgreSQL a batch first takes a transaction-scoped advisory lock per organization,
    skipping organizations another run holds (that run, which walks them in order, or
    the next run renews them). ``progress(summary)`` is called after each batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    now = timezone.now()
    at = at or now
    renewal_time_check(at=at, now=now, allow_future=allow_future)
    summary = RenewalSummary(at=at)
    after = None
    while True:
        claimed, after, more = _renewal_batch(
            at=summary.at, after=after, batch_size=batch_size, summary=summary
        )
        if claimed:
            summary.batches += 1
            summary.leases_claimed += claimed
            if progress is not None:
                progress(summary)
        if not more:
            return summary


def _due(*, at: datetime, after: tuple | None):
    """Leases due at ``at`` after the keyset ``after``: (organization, assigned_at, pk),
    or (organization, None, None) for "past that whole organization"."""
    queryset = Lease.objects.filter(status=LeaseStatus.ASSIGNED, next_renewal_at__lte=at)
    if after is not None:
        organization_id, assigned_at, pk = after
        later = Q(project__organization_id__gt=organization_id)
        if assigned_at is not None:
            later |= Q(project__organization_id=organization_id, assigned_at__gt=assigned_at) | Q(
                project__organization_id=organization_id, assigned_at=assigned_at, pk__gt=pk
            )
        queryset = queryset.filter(later)
    return queryset.order_by("project__organization_id", "assigned_at", "pk")


def _organizations_claim(organization_ids: list[str]) -> set[str]:
    """The organizations this run may renew now: a transaction-scoped advisory lock per
    organization, skipping those another run holds (as SKIP LOCKED does for rows), so one
    run at a time pays an organization's leases, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT org FROM unnest(%s::text[]) AS org WHERE "
            "pg_try_advisory_xact_lock(hashtextextended('leasing.renewals:' || org, 0))",
            [organization_ids],
        )
        return {row[0] for row in cursor.fetchall()}


@transaction.atomic
def _renewal_batch(
    *, at: datetime, after: tuple | None, batch_size: int, summary: RenewalSummary
) -> tuple[int, tuple | None, bool]:
    """One batch: returns (leases claimed, the keyset to continue after, more to come)."""
    ahead = list(
        _due(at=at, after=after).values_list("project__organization_id", flat=True)[:batch_size]
    )
    if not ahead:
        return 0, after, False
    more = len(ahead) == batch_size
    candidates = list(dict.fromkeys(ahead))
    held = _organizations_claim(candidates)
    if not held:  # another run is renewing all of them: go past them
        return 0, (candidates[-1], None, None), more
    leases = list(
        _due(at=at, after=after)
        .filter(project__organization_id__in=held)
        .select_for_update(skip_locked=True, of=("self",))
        .annotate(
            organization_id=F("project__organization_id"), handle=F("social_account__handle")
        )[:batch_size]
    )
    if not leases:
        return 0, (candidates[-1], None, None), more
    charges = [
        LeaseCharge(
            organization_id=lease.organization_id,
            lease_id=lease.pk,
            period=period,
            amount_cents=lease.monthly_price_cents,
            memo=f"Renewal @{lease.handle}, month {period + 1}",
            reference=lease.social_account_id,
        )
        for lease in leases
        for period in owed_periods(lease, at)
    ]
    outcome = lease_charges_post(charges=charges, actor=None, all_or_nothing=False)
    _renewals_save(
        leases, settled=set(outcome.posted) | set(outcome.already_charged), at=at, summary=summary
    )
    summary.periods_charged += len(outcome.posted)
    summary.charged_cents += sum(
        c.amount_cents for c in charges if (c.lease_id, c.period) in outcome.posted
    )
    if len(leases) < batch_size:
        # Every due lease of the organizations held is done: go past all the candidates,
        # including any skipped because another run holds them.
        return len(leases), (candidates[-1], None, None), more
    last = leases[-1]
    return len(leases), (last.organization_id, last.assigned_at, last.pk), more


RENEWAL_FIELDS = [
    "periods_paid",
    "next_renewal_at",
    "billing_status",
    "past_due_since",
    "status",
    "disconnected_at",
    "disconnected_reason",
]


def _renewals_save(
    leases: list[Lease], *, settled: set[tuple[int, int]], at: datetime, summary: RenewalSummary
) -> None:
    """Advance each lease by the periods now charged, in order; mark the rest past due and
    end those past their grace period (``periods.renewal_settle``). Called in the batch's
    transaction."""
    grace = timedelta(days=settings.RENEWAL_GRACE_DAYS)
    now = timezone.now()
    ended = []
    for lease in leases:
        paid = 0
        for period in owed_periods(lease, at):
            if (lease.pk, period) not in settled:
                break
            paid += 1
        outcome = renewal_settle(lease, paid=paid, at=at, now=now, grace=grace)
        if outcome == RENEWED:
            summary.renewed += 1
        elif outcome == PAST_DUE:
            summary.past_due += 1
        elif outcome == DISCONNECTED:
            ended.append(lease)
            summary.disconnected += 1
        else:
            summary.unpaid_ahead += 1
    _leases_write(leases)
    if ended:
        _accounts_cool_down(ended, at=min(at, now), grace_days=settings.RENEWAL_GRACE_DAYS)


_PG_ARRAY_TYPES = {
    "BigAutoField": "bigint",
    "PositiveIntegerField": "integer",
    "DateTimeField": "timestamptz",
    "CharField": "text",
}


def _leases_write(leases: list[Lease]) -> None:
    """Save the renewal fields of a batch in one ``UPDATE ... FROM unnest(...)``: Django's
    ``bulk_update`` builds a CASE per row and field, about two seconds of Python per
    1,000 leases."""
    fields = [Lease._meta.pk, *(Lease._meta.get_field(name) for name in RENEWAL_FIELDS)]
    columns = [connection.ops.quote_name(field.column) for field in fields]
    arrays = ", ".join(f"%s::{_PG_ARRAY_TYPES[field.get_internal_type()]}[]" for field in fields)
    table = connection.ops.quote_name(Lease._meta.db_table)
    assignments = ", ".join(f"{column} = v.{column}" for column in columns[1:])
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v({', '.join(columns)}) "
            f"WHERE {table}.{columns[0]} = v.{columns[0]}",
            [[getattr(lease, field.attname) for lease in leases] for field in fields],
        )


def _accounts_cool_down(leases: list[Lease], *, at: datetime, grace_days: int) -> None:
    """The accounts of leases ended unpaid go to cooldown for ops, logged as the system."""
    leased = list(
        SocialAccount.objects.select_for_update(of=("self",))
        .filter(pk__in=[lease.social_account_id for lease in leases], state=AccountState.LEASED)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not leased:
        return
    SocialAccount.objects.filter(pk__in=leased).update(
        state=AccountState.COOLDOWN, state_changed_at=at
    )
    reason = f"Lease unpaid {grace_days} day(s) after its renewal failed"
    AccountEvent.objects.bulk_create(
        AccountEvent(
            account_id=pk,
            from_state=AccountState.LEASED,
            to_state=AccountState.COOLDOWN,
            actor=None,
            actor_label=SYSTEM_ACTOR,
            reason=reason,
        )
        for pk in leased
    )


# Ending: the partner cancels a request or releases an account; ops end a lease ----------
#
# A cancel locks the request, as allocation does first. Ending a lease locks the lease,
# then its account (as renewals do): whatever else locks a leased account (allocation,
# account moves) refuses it right after locking it, without waiting for a lease, so this
# order cannot deadlock with the request -> accounts order above.


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
    lease_request = _lock_request(lease_request)
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
    return lease_request


class LeaseEnded(LeasingError):
    """The lease is already disconnected."""

    def __init__(self, message: str, *, lease: Lease):
        super().__init__(message)
        self.lease = lease


_END_REASONS = {
    DisconnectReason.RELEASED_BY_PARTNER: "Released by the partner",
    DisconnectReason.OPS: "Ended by ops",
}


@transaction.atomic
def lease_end(
    *, lease: Lease, reason: str, actor=None, note: str = "", once: str | None = None
) -> Lease:
    """End a running lease now: the partner released the account, or ops ended it.

    One transaction: the lease is locked, then its account. The lease becomes
    ``disconnected`` (at now, with ``reason``) and stops renewing (``next_renewal_at``
    None), so no renewal run charges it again: renewals claim only assigned leases, with
    ``SKIP LOCKED``, and a run holding this lease makes this call wait, then it ends the
    lease as that run left it. The account moves ``leased`` -> ``cooldown``, logged with
    ``actor`` (or the system) and ``note``. Nothing is refunded: the month already paid
    simply runs out (finance can refund by hand). A lease already disconnected raises
    ``LeaseEnded``. ``once``: the ops form's one-time token, spent per lease (one form
    ends many), so a second submit of the page ends nothing (``AlreadyDone``).
    """
    ticket = once_take(once, user=actor, part=f"end:{lease.pk}")
    if reason not in _END_REASONS:
        raise LeasingError(f"A lease is ended as released_by_partner or ops, not {reason!r}.")
    lease = Lease.objects.select_for_update(of=("self",)).get(pk=lease.pk)
    if lease.status != LeaseStatus.ASSIGNED:
        raise LeaseEnded(
            f"The lease of {lease.social_account_id} already ended on "
            f"{timezone.localtime(lease.disconnected_at):%Y-%m-%d} "
            f"({lease.get_disconnected_reason_display().lower()}).",
            lease=lease,
        )
    account = SocialAccount.objects.select_for_update(of=("self",)).get(pk=lease.social_account_id)
    now = timezone.now()
    lease.status = LeaseStatus.DISCONNECTED
    lease.disconnected_at = now
    lease.disconnected_reason = reason
    lease.next_renewal_at = None
    lease.save(
        update_fields=["status", "disconnected_at", "disconnected_reason", "next_renewal_at"]
    )
    if account.state == AccountState.LEASED:
        account.state, account.state_changed_at = AccountState.COOLDOWN, now
        account.save(update_fields=["state", "state_changed_at"])
        why = _END_REASONS[reason]
        _log_moves(
            [account],
            from_states={account.pk: AccountState.LEASED},
            to_state=AccountState.COOLDOWN,
            actor=actor,
            reason=(f"{why}: {note.strip()}" if note.strip() else why)[:200],
        )
    ticket.done(f"the lease of @{account.handle} ended")
    return lease


@transaction.atomic
def lease_release(*, lease: Lease) -> Lease:
    """The partner gives a leased account back: ``lease_end`` as released by the partner.

    Releasing again answers the lease as the first release left it, so a retry is
    harmless; a lease that ended another way (unpaid, ops) raises ``LeaseEnded``.
    """
    try:
        return lease_end(lease=lease, reason=DisconnectReason.RELEASED_BY_PARTNER)
    except LeaseEnded as ended:
        if ended.lease.disconnected_reason == DisconnectReason.RELEASED_BY_PARTNER:
            return ended.lease
        raise
