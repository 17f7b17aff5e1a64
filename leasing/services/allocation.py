"""Allocating ready accounts to a request: the staff's own choice (``allocation_assign``)
or the best-ranked (``allocation_pick_best``); assigns them, creates their leases and
charges the wallet in one transaction, or refuses and changes nothing.

Locks, in this order: the lease request, the chosen social accounts (pk order; picking
the best skips rows another allocation holds), then the ledger accounts (inside
``billing.services.charges``) when the leases are charged.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing.money import dollars
from billing.services.charges import LeaseCharge, lease_charges_post
from billing.services.errors import InsufficientFunds
from layers_ops.partners.models import KeyEnvironment, Organization
from layers_ops.staff.once import once_take

from .. import fit, ranking
from ..events import request_closed_emit
from ..fit import fit_gaps
from ..models import (
    AccountState,
    Lease,
    LeaseRequest,
    RequestStatus,
    SocialAccount,
)
from ..periods import (
    period_start,
)
from ..ranking import fits
from .claims import claim_locked
from .errors import LeasingError, RequestClosed, accounts_text
from .history import log_moves
from .locks import assigned_as_shown, lock_request


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
    lease_request, assigned = _request_open_for(
        lease_request,
        wanted=len(ids),
        how="were chosen",
        actor=actor,
        take_over=take_over,
        expect_assigned=expect_assigned,
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
    # A live account never goes to a test-mode request (say one ops opened with the "test
    # data" switch): test mode draws from its own sandbox pool only.
    if (
        not unfit
        and any(a.pool.sandbox_of_id is None for a in locked)
        and Organization.objects.filter(
            pk=lease_request.organization_id, environment=KeyEnvironment.TEST
        ).exists()
    ):
        raise LeasingError(
            "This is a test-mode request: it is fulfilled by itself from its sandbox pool, "
            "never with live accounts."
        )
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
    log_moves(
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
    if lease_request.status == RequestStatus.ASSIGNED:
        request_closed_emit(lease_request)
    ticket.done(
        f"{accounts_text(len(ids))} assigned to {lease_request.public_id} and "
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
    lease_request, _ = _request_open_for(
        lease_request,
        wanted=count,
        how="were asked for",
        actor=actor,
        take_over=take_over,
        expect_assigned=expect_assigned,
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
        f"{accounts_text(count)} assigned to {lease_request.public_id} and "
        f"{dollars(allocation.charged_cents)} charged"
    )
    return allocation


def _request_open_for(
    lease_request: LeaseRequest, *, wanted: int, how: str, actor, take_over, expect_assigned
) -> tuple[LeaseRequest, int]:
    """Lock the request and check it can take ``wanted`` more accounts: still open, as
    assigned as the page showed (``expect_assigned``), claimed by ``actor`` (working it
    claims it; someone else's claim needs ``take_over``), and short of at least
    ``wanted``. Returns the locked row and how many accounts it already has."""
    lease_request = lock_request(lease_request)
    if lease_request.status != RequestStatus.REQUESTED:
        raise RequestClosed(
            f"Request {lease_request.public_id} is {lease_request.status}: it takes no more "
            "accounts.",
            lease_request=lease_request,
        )
    assigned = lease_request.leases.count()
    assigned_as_shown(lease_request, assigned=assigned, expected=expect_assigned)
    claim_locked(lease_request, actor=actor, take_over=take_over)  # working it claims it
    still_needed = lease_request.count - assigned
    if wanted > still_needed:
        raise LeasingError(
            f"Request {lease_request.public_id} needs {still_needed} more account(s); "
            f"{wanted} {how}."
        )
    return lease_request, assigned


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
