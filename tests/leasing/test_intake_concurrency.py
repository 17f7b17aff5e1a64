"""Intake against a concurrent allocation, with real threads on PostgreSQL."""

import threading

import pytest
from django.db import connection, transaction

from leasing import intake as intake_module
from leasing.intake import accounts_import
from leasing.intake_parsing import IntakeError, rows_read
from leasing.models import AccountImport, AccountState, Pool, SocialAccount
from tests.factories import SocialAccountFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_import_waits_for_a_lease_in_progress_and_then_leaves_the_account_alone():
    account = SocialAccountFactory(handle="raced_one", state=AccountState.READY, followers=10)
    locked, release = threading.Event(), threading.Event()
    outcome = {}

    def allocate():  # what allocation_assign does: lock the account, then lease it
        try:
            with transaction.atomic():
                SocialAccount.objects.select_for_update().get(pk=account.pk)
                locked.set()
                release.wait(10)
                SocialAccount.objects.filter(pk=account.pk).update(state=AccountState.LEASED)
        finally:
            connection.close()

    def intake():
        try:
            outcome["report"] = accounts_import(
                rows=rows_read("handle,followers\nraced_one,99\nfresh_one,5\n"),
                pool_name="Raced",
                verticals="coffee",
                skip_invalid=True,
            )
        finally:
            connection.close()

    allocating = threading.Thread(target=allocate)
    allocating.start()
    assert locked.wait(10)
    importing = threading.Thread(target=intake)
    importing.start()
    importing.join(0.5)
    assert importing.is_alive(), "the import must wait for the account's row lock"
    release.set()
    allocating.join(10)
    importing.join(10)

    report = outcome["report"]
    assert [r.reason for r in report.refused] == [
        "@raced_one is leased to a partner: update it after its lease ends"
    ]
    assert [a.handle for a in report.added] == ["fresh_one"]
    account.refresh_from_db()
    assert (account.state, account.followers, account.pool.name) == (
        "leased",
        10,
        account.pool.name,
    )
    assert account.pool.name != "Raced"


def _held_open(text, pool_name, *, holding, release, outcome):
    """An import whose transaction stays open (its rows uncommitted) until ``release``."""
    try:
        with transaction.atomic():
            outcome["first"] = accounts_import(
                rows=rows_read(text), pool_name=pool_name, verticals="coffee"
            )
            holding.set()
            release.wait(10)
    finally:
        connection.close()


def _second(text, pool_name, outcome):
    try:
        outcome["second"] = accounts_import(
            rows=rows_read(text), pool_name=pool_name, verticals="coffee"
        )
    except Exception as exc:  # what the command and the admin would be handed
        outcome["second"] = exc
    finally:
        connection.close()


def _race(first_text, first_pool, second_text, second_pool):
    holding, release, outcome = threading.Event(), threading.Event(), {}
    first = threading.Thread(
        target=_held_open,
        args=(first_text, first_pool),
        kwargs={"holding": holding, "release": release, "outcome": outcome},
    )
    first.start()
    assert holding.wait(10)
    second = threading.Thread(target=_second, args=(second_text, second_pool, outcome))
    second.start()
    second.join(0.5)
    assert second.is_alive(), "the second import must wait for the first one's rows"
    release.set()
    first.join(10)
    second.join(10)
    return outcome


def test_two_imports_creating_the_same_new_pool_at_once_both_land_in_it():
    outcome = _race(
        "handle,followers\nfirst_one,1\n", "Fresh", "handle,followers\nsecond_one,2\n", "Fresh"
    )

    assert outcome["first"].written and outcome["first"].pool_created
    assert outcome["second"].written and not outcome["second"].pool_created
    assert sorted(
        SocialAccount.objects.filter(pool__name="Fresh").values_list("handle", flat=True)
    ) == ["first_one", "second_one"]
    assert AccountImport.objects.count() == 2


def test_new_handles_added_by_another_import_meanwhile_refuse_the_later_import_whole():
    outcome = _race(
        "handle,followers\nshared_one,1\nfirst_only,1\n",
        "One",
        "handle,followers\nsecond_only,2\nshared_one,2\n",
        "Two",
    )

    assert outcome["first"].written
    assert isinstance(outcome["second"], IntakeError)
    assert "added by someone else while the import ran" in str(outcome["second"])
    assert sorted(SocialAccount.objects.values_list("handle", "pool__name")) == [
        ("first_only", "One"),
        ("shared_one", "One"),
    ]
    assert not Pool.objects.filter(name="Two").exists()
    assert AccountImport.objects.count() == 1


def test_two_imports_locking_the_same_accounts_in_opposite_order_refuse_one_cleanly(
    monkeypatch,
):
    SocialAccountFactory(handle="acct_x", followers=1)
    SocialAccountFactory(handle="acct_y", followers=1)
    monkeypatch.setattr("leasing.intake.CHUNK_ROWS", 1)
    first_chunks_locked = threading.Barrier(2, timeout=10)
    existing = intake_module._existing
    calls = threading.local()

    def existing_then_meet(handles, *, lock):
        found = existing(handles, lock=lock)
        calls.n = getattr(calls, "n", 0) + 1
        if calls.n == 1:
            first_chunks_locked.wait()  # each holds its first account, then wants the other
        return found

    monkeypatch.setattr("leasing.intake._existing", existing_then_meet)
    outcome = {}

    def run(key, text):  # two pools: imports into one pool queue on its row lock
        try:
            outcome[key] = accounts_import(rows=rows_read(text), pool_name=key, verticals="c")
        except Exception as exc:
            outcome[key] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=("a", "handle,followers\nacct_x,2\nacct_y,2\n")),
        threading.Thread(target=run, args=("b", "handle,followers\nacct_y,3\nacct_x,3\n")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    refused = [o for o in outcome.values() if isinstance(o, IntakeError)]
    written = [o for o in outcome.values() if not isinstance(o, Exception) and o.written]
    assert len(refused) == 1 and len(written) == 1, outcome
    assert "at the same moment; nothing was written" in str(refused[0])
    followers = set(SocialAccount.objects.values_list("followers", flat=True))
    assert followers in ({2}, {3})
