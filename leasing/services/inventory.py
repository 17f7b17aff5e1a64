"""Warmed accounts as ops keep them: state moves (``account_move``,
``account_moves_bulk``, ``account_moves_check``) and field edits (``social_account_update``),
each recorded as ``AccountEvent`` rows.

Locks: the social accounts, in pk order; a move that meets a leased account refuses it
right after locking it, never waiting for its lease (the order ``locks`` describes).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from layers_ops.staff.once import once_take

from ..intake_parsing import RowRefused, handle_clean
from ..models import (
    ACCOUNT_MOVES,
    AccountEvent,
    AccountState,
    Lease,
    SocialAccount,
)
from .errors import LeasingError, accounts_text
from .history import actor_label, log_moves


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
    log_moves(moved, from_states=from_states, to_state=to_state, actor=actor, reason=reason)
    ticket.done(f"{accounts_text(len(moved))} moved to {to_state}")
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
