"""Intake against a concurrent allocation, with real threads on PostgreSQL."""

import threading

import pytest
from django.db import connection, transaction

from leasing.intake import accounts_import, rows_read
from leasing.models import AccountState, SocialAccount
from tests.factories import SocialAccountFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


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
