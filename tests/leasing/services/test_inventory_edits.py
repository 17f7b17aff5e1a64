"""Editing an account: a leased account keeps its handle and platform (the admin, the
service and the database refuse a change), and every change to any account is in its
history with who made it and what changed."""

import pytest
from django.contrib.auth.models import Group
from django.db import DatabaseError, transaction
from django.urls import reverse

from leasing.intake import accounts_import
from leasing.intake_parsing import IntakeRow
from leasing.models import AccountEvent, AccountState, SocialAccount
from leasing.roles import OPS
from leasing.services.errors import LeasingError
from leasing.services.inventory import social_account_update
from tests.factories import LeaseFactory, PoolFactory, SocialAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client):
    user = UserFactory(username="kim")
    user.groups.add(Group.objects.get(name=OPS))
    client.force_login(user)
    return user


def change_url(account):
    return reverse("admin:leasing_socialaccount_change", args=[account.pk])


def edit(client, account, **changes):
    data = {
        "handle": account.handle,
        "pool": account.pool_id,
        "followers": account.followers,
        "follower_geos": " ".join(account.follower_geos),
        "warmed_since_0": "",
        "warmed_since_1": "",
        "events-TOTAL_FORMS": "0",
        "events-INITIAL_FORMS": "0",
        "events-MIN_NUM_FORMS": "0",
        "events-MAX_NUM_FORMS": "1000",
        **changes,
    }
    return client.post(change_url(account), data, follow=True)


@pytest.fixture
def leased(partner):
    return LeaseFactory(
        social_account__handle="held_by_partner", lease_request__project=partner.project
    ).social_account


def test_a_leased_accounts_handle_is_read_only_on_its_page(client, ops, leased):
    html = client.get(change_url(leased)).content.decode()

    assert 'name="handle"' not in html and "held_by_partner" in html
    assert 'name="pool"' not in html  # a leased account stays in its pool
    assert "leased" in html.lower() and "cannot be renamed" in html


def test_posting_a_new_handle_for_a_leased_account_changes_nothing_the_partner_sees(
    client, ops, leased, partner
):
    edit(client, leased, handle="renamed_meanwhile")

    leased.refresh_from_db()
    assert leased.handle == "held_by_partner"
    listed = partner.client.get("/v1/leased-accounts").json()["items"]
    assert [item["handle"] for item in listed] == ["held_by_partner"]
    assert not AccountEvent.objects.filter(account=leased, changes__has_key="handle").exists()


def test_the_service_refuses_to_rename_a_leased_account(ops, leased):
    with pytest.raises(LeasingError, match="leased"):
        social_account_update(account=leased, changes={"handle": "renamed"}, actor=ops)

    leased.refresh_from_db()
    assert leased.handle == "held_by_partner"


@pytest.mark.parametrize("column", ["handle", "platform"])
def test_the_database_refuses_to_rename_a_leased_account(leased, column):
    with pytest.raises(DatabaseError, match="leased"), transaction.atomic():
        SocialAccount.objects.filter(pk=leased.pk).update(**{column: "renamed"})


def test_the_database_lets_an_account_be_renamed_once_it_is_not_leased():
    account = SocialAccountFactory(handle="free_one", state=AccountState.COOLDOWN)

    SocialAccount.objects.filter(pk=account.pk).update(handle="free_two")

    account.refresh_from_db()
    assert account.handle == "free_two"


def test_a_leased_accounts_followers_can_change_and_are_recorded(client, ops, leased):
    page = edit(client, leased, followers=leased.followers + 500).content.decode()

    assert "changed successfully" in page
    event = AccountEvent.objects.get(account=leased)
    assert event.actor == ops and event.actor_label == "kim"
    assert event.changes == {"followers": [leased.followers, leased.followers + 500]}


def test_every_change_on_the_page_is_in_the_history_with_who_and_what(client, ops):
    old_pool, new_pool = PoolFactory(name="Coffee US"), PoolFactory(name="Coffee CA")
    account = SocialAccountFactory(
        handle="old_name", pool=old_pool, followers=1000, follower_geos=["US"]
    )

    edit(
        client,
        account,
        handle="new_name",
        pool=new_pool.pk,
        followers=2500,
        follower_geos="US CA",
    )

    account.refresh_from_db()
    assert (account.handle, account.pool, account.followers) == ("new_name", new_pool, 2500)
    event = AccountEvent.objects.get(account=account)
    assert event.actor == ops
    assert event.changes == {
        "handle": ["old_name", "new_name"],
        "pool": ["Coffee US", "Coffee CA"],
        "followers": [1000, 2500],
        "follower_geos": [["US"], ["US", "CA"]],
    }
    history = client.get(change_url(account)).content.decode()
    assert "handle @old_name → @new_name" in history
    assert "followers 1,000 → 2,500" in history and "pool Coffee US → Coffee CA" in history


def test_saving_the_page_unchanged_records_nothing(client, ops):
    account = SocialAccountFactory()

    edit(client, account)

    assert not AccountEvent.objects.filter(account=account).exists()


def test_an_import_that_updates_an_account_records_what_changed_and_who(ops):
    pool = PoolFactory(name="Coffee US")
    account = SocialAccountFactory(handle="brew_daily", pool=pool, followers=9000)

    accounts_import(
        rows=[IntakeRow(line=2, handle="brew_daily", followers="9500", geo="US|GB")],
        pool_name="Coffee US",
        actor=ops,
    )

    event = AccountEvent.objects.get(account=account)
    assert (event.actor, event.actor_label) == (ops, "kim")
    assert event.changes["followers"] == [9000, 9500]
    assert "Import" in event.reason
