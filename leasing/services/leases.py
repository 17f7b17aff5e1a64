"""Ending a lease: ops end it (``lease_end``) or the partner releases the account
(``lease_release``); the account goes to cooldown and the change is logged.

Locks: the lease, then its account (as renewals do). Whatever else locks a leased
account (allocation, account moves) refuses it right after locking it, without waiting
for a lease, so this order cannot deadlock with the request -> accounts order.
"""

from django.db import transaction
from django.utils import timezone

from layers_ops.staff.once import once_take
from layers_ops.webhooks.models import EventType

from ..events import leases_changed_emit
from ..models import (
    AccountState,
    DisconnectReason,
    Lease,
    LeaseStatus,
    SocialAccount,
)
from .errors import LeasingError
from .history import log_moves


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
        log_moves(
            [account],
            from_states={account.pk: AccountState.LEASED},
            to_state=AccountState.COOLDOWN,
            actor=actor,
            reason=(f"{why}: {note.strip()}" if note.strip() else why)[:200],
        )
    leases_changed_emit([lease.pk], type=EventType.LEASE_DISCONNECTED)
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
