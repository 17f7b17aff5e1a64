"""Who did what to an account: the actor label the logs show and the ``AccountEvent``
rows every state move writes (allocation, inventory moves, lease endings). Takes no locks:
callers write these rows for accounts they already hold locked."""

from billing.services.postings import SYSTEM_ACTOR

from ..models import (
    AccountEvent,
)


def actor_label(actor) -> str:
    """Who did it, as the logs show it: a username, or ``system``."""
    return actor.get_username() if actor is not None else SYSTEM_ACTOR


def log_moves(accounts, *, from_states: dict, to_state: str, actor, reason: str) -> None:
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
