"""A form's one-time token (``layers_ops.staff.once``), at the level of the services that
spend it: a repeat changes nothing and says what was done; a failed change leaves it
unspent; a forged, someone else's or stale token changes nothing."""

import datetime

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import wallet_balance_cents
from billing.services.movements import wallet_adjust, wallet_fund
from layers_ops.staff.models import FormOnce
from layers_ops.staff.once import AlreadyDone, OnceRefused, once_mint, once_records_purge
from leasing.intake import accounts_import
from leasing.intake_parsing import rows_read
from leasing.models import (
    AccountImport,
    AccountState,
    Lease,
    NoteVisibility,
    RequestNote,
    RequestStatus,
    SocialAccount,
)
from leasing.services.allocation import WalletShort, allocation_assign, allocation_pick_best
from leasing.services.claims import request_claim
from leasing.services.errors import RequestChanged
from leasing.services.inventory import account_moves_bulk
from leasing.services.leases import lease_end
from leasing.services.requests import request_close, request_note_add
from tests.conftest import make_partner
from tests.factories import (
    LeaseFactory,
    LeaseRequestFactory,
    PoolFactory,
    SocialAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PRICE = settings.LEASE_PRICE_CENTS


@pytest.fixture
def ops():
    return UserFactory(username="maria")


def open_request(partner, *, count=3, ready=5):
    pool = PoolFactory(tags=["coffee"])
    for _ in range(ready):
        SocialAccountFactory(pool=pool)
    return LeaseRequestFactory(project=partner.project, count=count)


def test_assign_best_n_submitted_twice_assigns_and_charges_once(partner, ops):
    lease_request = open_request(partner)
    token = once_mint(user=ops)
    balance = wallet_balance_cents(organization_id=partner.organization.pk)

    allocation_pick_best(lease_request=lease_request, count=1, actor=ops, once=token)
    with pytest.raises(AlreadyDone) as again:
        allocation_pick_best(lease_request=lease_request, count=1, actor=ops, once=token)

    assert Lease.objects.filter(lease_request=lease_request).count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == balance - PRICE
    at = f"{timezone.localtime(FormOnce.objects.get().consumed_at):%H:%M}"
    assert str(again.value) == (
        f"Already done: 1 account assigned to {lease_request.public_id} and $150.00 charged "
        f"at {at} by you. Nothing was changed again."
    )


def test_a_refused_change_leaves_the_token_for_a_retry_of_the_same_page(ops):
    partner = make_partner(wallet_cents=PRICE)  # covers one account
    lease_request = open_request(partner)
    token = once_mint(user=ops)

    with pytest.raises(WalletShort):
        allocation_pick_best(lease_request=lease_request, count=2, actor=ops, once=token)
    assert not FormOnce.objects.exists() and not Lease.objects.exists()

    allocation_pick_best(lease_request=lease_request, count=1, actor=ops, once=token)
    assert Lease.objects.count() == 1


def test_a_page_drawn_before_another_allocation_is_refused_and_says_what_changed(partner, ops):
    lease_request = open_request(partner)
    allocation_pick_best(lease_request=lease_request, count=1, actor=ops)  # another tab

    with pytest.raises(RequestChanged) as changed:
        allocation_pick_best(
            lease_request=lease_request,
            count=1,
            actor=ops,
            expect_assigned=0,
            once=once_mint(user=ops),
        )

    assert str(changed.value).startswith(
        "This request changed since you opened the page: 1 of 3 already assigned."
    )
    assert Lease.objects.count() == 1
    assert not FormOnce.objects.exists()  # the page can be redrawn and used


def test_ticked_accounts_submitted_twice_are_assigned_once(partner, ops):
    lease_request = open_request(partner)
    accounts = [SocialAccountFactory(pool=PoolFactory(tags=["coffee"])) for _ in range(2)]
    token = once_mint(user=ops)

    allocation_assign(
        lease_request=lease_request, accounts=accounts, actor=ops, expect_assigned=0, once=token
    )
    with pytest.raises(AlreadyDone, match="2 accounts assigned"):
        allocation_assign(
            lease_request=lease_request,
            accounts=accounts,
            actor=ops,
            expect_assigned=0,
            once=token,
        )
    assert Lease.objects.count() == 2


def test_a_note_saved_twice_is_written_once(partner, ops):
    lease_request = LeaseRequestFactory(project=partner.project)
    token = once_mint(user=ops)
    note = {
        "lease_request": lease_request,
        "body": "Two accounts this week, the rest on Monday.",
        "visibility": NoteVisibility.PARTNER,
        "author": ops,
        "once": token,
        "once_part": "note:0",
    }

    request_note_add(**note)
    with pytest.raises(AlreadyDone, match="partner-visible note added"):
        request_note_add(**note)

    assert RequestNote.objects.filter(lease_request=lease_request).count() == 1


def test_close_submitted_twice_closes_once_with_one_note(partner, ops):
    lease_request = LeaseRequestFactory(project=partner.project)
    token = once_mint(user=ops)
    close = {
        "lease_request": lease_request,
        "outcome": RequestStatus.REJECTED,
        "note": "No pool for this niche.",
        "partner_visible": True,
        "actor": ops,
        "expect_assigned": 0,
        "once": token,
    }

    request_close(**close)
    with pytest.raises(AlreadyDone, match="closed as rejected"):
        request_close(**close)

    assert RequestNote.objects.filter(lease_request=lease_request).count() == 1


def test_a_move_submitted_twice_logs_once(ops):
    account = SocialAccountFactory(state=AccountState.WARMING)
    token = once_mint(user=ops)

    account_moves_bulk(accounts=[account], to_state="ready", actor=ops, reason="Warm", once=token)
    with pytest.raises(AlreadyDone, match="1 account moved to ready"):
        account_moves_bulk(accounts=[account], to_state="cooldown", actor=ops, once=token)

    account.refresh_from_db()
    assert account.state == AccountState.READY
    assert account.events.count() == 1


def test_end_leases_resubmitted_ends_nothing_more(partner, ops):
    lease = LeaseFactory(project=partner.project)
    token = once_mint(user=ops)

    lease_end(lease=lease, reason="ops", actor=ops, note="Banned", once=token)
    with pytest.raises(AlreadyDone, match="ended"):
        lease_end(lease=lease, reason="ops", actor=ops, note="Banned", once=token)


def test_one_form_claims_each_request_once(partner, ops):
    first, second = (LeaseRequestFactory(project=partner.project) for _ in range(2))
    token = once_mint(user=ops)

    request_claim(lease_request=first, actor=ops, once=token)
    request_claim(lease_request=second, actor=ops, once=token)  # the same list action
    with pytest.raises(AlreadyDone, match=f"{first.public_id} claimed"):
        request_claim(lease_request=first, actor=ops, once=token)


def test_a_top_up_submitted_twice_is_recorded_once(partner):
    finance = UserFactory(username="fin")
    token = once_mint(user=finance)
    top_up = {
        "organization": partner.organization,
        "amount_cents": 25_000,
        "actor": finance,
        "memo": "Wire 4471",
        "once": token,
    }

    wallet_fund(**top_up)
    with pytest.raises(AlreadyDone, match=r"a top-up of \$250.00 recorded"):
        wallet_fund(**top_up)

    assert (
        LedgerTransaction.objects.filter(kind=TransactionKind.FUNDING, memo="Wire 4471").count()
        == 1
    )


def test_an_adjustment_submitted_twice_is_recorded_once(partner):
    finance = UserFactory(username="fin")
    token = once_mint(user=finance)
    adjust = {
        "organization": partner.organization,
        "amount_cents": -2_500,
        "actor": finance,
        "memo": "Late fee",
        "once": token,
    }

    wallet_adjust(**adjust)
    with pytest.raises(AlreadyDone):
        wallet_adjust(**adjust)
    assert LedgerTransaction.objects.filter(kind=TransactionKind.ADJUSTMENT).count() == 1


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "abc:1:signature", "x" * 5_000],
    ids=["missing", "garbage", "forged", "5000-chars"],
)
def test_a_missing_or_forged_token_changes_nothing(partner, ops, token):
    lease_request = open_request(partner)

    with pytest.raises(OnceRefused, match="out of date"):
        allocation_pick_best(lease_request=lease_request, count=1, actor=ops, once=token)

    assert not Lease.objects.exists() and not FormOnce.objects.exists()


def test_someone_elses_page_changes_nothing(partner, ops):
    lease_request = open_request(partner)
    theirs = once_mint(user=UserFactory(username="other"))

    with pytest.raises(OnceRefused, match="someone else"):
        allocation_pick_best(lease_request=lease_request, count=1, actor=ops, once=theirs)
    assert not Lease.objects.exists()


def test_a_page_older_than_a_day_is_refused(partner, ops, monkeypatch):
    lease_request = open_request(partner)
    token = once_mint(user=ops)
    later = datetime.datetime.now().timestamp() + 25 * 3600
    monkeypatch.setattr("time.time", lambda: later)

    with pytest.raises(OnceRefused, match="more than a day ago"):
        allocation_pick_best(lease_request=lease_request, count=1, actor=ops, once=token)
    assert not Lease.objects.exists()


def test_spent_tokens_are_forgotten_after_a_day(partner, ops):
    lease_request = open_request(partner)
    token = once_mint(user=ops)
    allocation_pick_best(lease_request=lease_request, count=1, actor=ops, once=token)

    assert once_records_purge(now=timezone.now() + datetime.timedelta(hours=23)) == 0
    assert once_records_purge(now=timezone.now() + datetime.timedelta(hours=25)) == 1


def test_an_import_confirmed_twice_imports_once(ops):
    token = once_mint(user=ops)
    confirm = {
        "pool_name": "Coffee US",
        "verticals": "coffee",
        "actor": ops,
        "file_name": "warm.csv",
        "once": token,
    }

    accounts_import(rows=rows_read("handle,followers\ncoffee_jo,12400\n"), **confirm)
    with pytest.raises(AlreadyDone, match=r"warm\.csv imported into Coffee US: 1 added"):
        accounts_import(rows=rows_read("handle,followers\nbrew.daily,9800\n"), **confirm)

    assert AccountImport.objects.count() == 1
    assert not SocialAccount.objects.filter(handle="brew.daily").exists()


def test_an_import_preview_spends_no_token(ops):
    token = once_mint(user=ops)
    rows = rows_read("handle,followers\ncoffee_jo,12400\n")
    options = {"pool_name": "Coffee US", "verticals": "coffee", "actor": ops, "once": token}

    accounts_import(rows=rows, dry_run=True, **options)
    accounts_import(rows=rows, **options)

    assert SocialAccount.objects.filter(handle="coffee_jo").exists()
