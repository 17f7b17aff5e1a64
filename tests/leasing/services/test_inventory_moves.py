"""Account state moves: only those ACCOUNT_MOVES allows, each logged with who and why."""

import pytest

from leasing.models import AccountEvent, AccountState
from leasing.services.errors import LeasingError
from leasing.services.inventory import account_move, account_moves_bulk
from tests.factories import LeaseFactory, SocialAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_bulk_moves_what_it_can_and_says_why_not_for_the_rest():
    ops = UserFactory(username="dana")
    warming = SocialAccountFactory(handle="warm_one", state="warming", warmed_since=None)
    ready = SocialAccountFactory(handle="ready_one", state="ready")
    retired = SocialAccountFactory(handle="gone_one", state="retired")

    outcome = account_moves_bulk(
        accounts=[retired, warming, ready], to_state=AccountState.READY, actor=ops, reason="ok"
    )

    assert [a.handle for a in outcome.moved] == ["warm_one"]
    assert {r.account.handle: r.reason for r in outcome.refused} == {
        "ready_one": "already ready",
        "gone_one": "cannot move from retired to ready",
    }
    warming.refresh_from_db()
    assert warming.state == "ready" and warming.warmed_since is not None
    event = AccountEvent.objects.get()
    assert (event.account, event.from_state, event.to_state) == (warming, "warming", "ready")
    assert (event.actor, event.actor_label, event.reason) == (ops, "dana", "ok")


def test_a_leased_account_goes_to_cooldown_only_once_its_lease_ended():
    held = LeaseFactory().social_account
    ended = LeaseFactory(disconnected=True).social_account

    outcome = account_moves_bulk(
        accounts=[held, ended], to_state=AccountState.COOLDOWN, actor=None, reason="rest"
    )

    assert [a.pk for a in outcome.moved] == [ended.pk]
    assert [r.reason for r in outcome.refused] == ["leased to a partner: end its lease first"]
    assert AccountEvent.objects.get().actor_label == "system"


def test_nobody_sets_leased_by_hand():
    account = SocialAccountFactory(state="ready")

    with pytest.raises(LeasingError, match="accounts are leased by allocating a request"):
        account_move(account=account, to_state=AccountState.LEASED, actor=None)

    account.refresh_from_db()
    assert account.state == "ready" and not AccountEvent.objects.exists()


def test_bulk_moves_run_a_fixed_number_of_queries(django_assert_max_num_queries):
    accounts = SocialAccountFactory.create_batch(40, state="warming")

    with django_assert_max_num_queries(6):
        outcome = account_moves_bulk(accounts=accounts, to_state="ready", actor=None)

    assert len(outcome.moved) == 40 and AccountEvent.objects.count() == 40
