"""Every ops and finance form takes effect once per rendering: submitted twice (a double
click, Back and resubmit) the second submit changes nothing and the page says what the
first one did; a page drawn before someone else's change says what changed."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from billing.models import LedgerTransaction, TransactionKind, Wallet
from billing.selectors import wallet_balance_cents
from leasing.models import AccountState, Lease, NoteVisibility, RequestNote, SocialAccount
from leasing.roles import FINANCE, OPS
from tests.billing.helpers import lease_accounts
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory
from tests.once import once_on

pytestmark = pytest.mark.django_db


def staff(client, group_name, username):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    return user


def url(name, lease_request, *args):
    return reverse(f"admin:leasing_leaserequest_{name}", args=[lease_request.pk, *args])


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


@pytest.fixture
def open_request(partner):
    pool = PoolFactory(tags=["coffee"])
    for _ in range(5):
        SocialAccountFactory(pool=pool)
    return LeaseRequestFactory(project=partner.project, count=3)


def test_assign_best_n_posted_twice_assigns_one_account_and_says_already_done(
    client, partner, open_request
):
    staff(client, OPS, "maria")
    page = client.get(url("allocate", open_request))
    form = {**once_on(page), "best-count": "1", "best-expect_assigned": "0", "pick_best": "1"}

    first = client.post(url("allocate", open_request), form, follow=True)
    again = client.post(url("allocate", open_request), form, follow=True)

    assert "Assigned 1 account(s)" in messages_of(first)
    said = messages_of(again)
    assert said.startswith(
        f"Already done: 1 account assigned to {open_request.public_id} and $150.00 charged at "
    )
    assert said.endswith("by you. Nothing was changed again.")
    assert again.redirect_chain[-1][0].startswith(url("change", open_request))
    assert Lease.objects.filter(lease_request=open_request).count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 - 15_000


def test_an_old_allocate_page_after_another_allocation_says_what_changed(
    client, partner, open_request
):
    staff(client, OPS, "maria")
    old = client.get(url("allocate", open_request))  # the first tab
    newer = client.get(url("allocate", open_request))  # the second tab
    client.post(
        url("allocate", open_request),
        {**once_on(newer), "best-count": "1", "best-expect_assigned": "0", "pick_best": "1"},
    )

    stale = client.post(
        url("allocate", open_request),
        {**once_on(old), "best-count": "1", "best-expect_assigned": "0", "pick_best": "1"},
    )

    assert stale.status_code == 200
    assert (
        "This request changed since you opened the page: 1 of 3 already assigned"
        in stale.content.decode()
    )
    assert Lease.objects.count() == 1


def test_ticked_accounts_posted_twice_are_assigned_once(client, partner, open_request):
    staff(client, OPS, "maria")
    page = client.get(url("allocate", open_request))
    chosen = list(SocialAccount.objects.values_list("pk", flat=True)[:2])
    form = {**once_on(page), "choose-accounts": chosen, "choose-expect_assigned": "0"}

    client.post(url("allocate", open_request), form)
    again = client.post(url("allocate", open_request), form, follow=True)

    assert "Already done: 2 accounts assigned" in messages_of(again)
    assert Lease.objects.count() == 2


def test_an_allocate_form_without_its_token_changes_nothing(client, partner, open_request):
    staff(client, OPS, "maria")

    response = client.post(url("allocate", open_request), {"best-count": "1", "pick_best": "1"})

    assert "This page is out of date" in response.content.decode()
    assert not Lease.objects.exists()


def test_a_partner_visible_note_saved_twice_is_written_once(client, partner):
    staff(client, OPS, "maria")
    lease_request = LeaseRequestFactory(project=partner.project)
    page = client.get(url("change", lease_request))
    form = {
        **once_on(page),
        "notes-TOTAL_FORMS": "1",
        "notes-INITIAL_FORMS": "0",
        "notes-0-body": "Sourcing from the GB pool; ETA Friday",
        "notes-0-visibility": NoteVisibility.PARTNER,
    }

    client.post(url("change", lease_request), form)
    again = client.post(url("change", lease_request), form, follow=True)

    assert RequestNote.objects.filter(lease_request=lease_request).count() == 1
    assert "Already done: partner-visible note added" in messages_of(again)


def test_reject_submitted_twice_closes_once_with_one_note(client, partner):
    staff(client, OPS, "maria")
    lease_request = LeaseRequestFactory(project=partner.project)
    page = client.get(url("close", lease_request, "reject"))
    form = {**once_on(page), "note": "No pool for knitting.", "expect_assigned": "0"}

    client.post(url("close", lease_request, "reject"), form)
    again = client.post(url("close", lease_request, "reject"), form, follow=True)

    assert f"Already done: {lease_request.public_id} closed as rejected" in messages_of(again)
    assert RequestNote.objects.filter(lease_request=lease_request).count() == 1


def test_a_claim_button_pressed_twice_claims_once(client, partner):
    staff(client, OPS, "maria")
    lease_request = LeaseRequestFactory(project=partner.project)
    page = client.get(url("change", lease_request))
    form = {**once_on(page), "do": "claim"}

    client.post(url("claim", lease_request), form)
    again = client.post(url("claim", lease_request), form, follow=True)

    assert f"Already done: {lease_request.public_id} claimed" in messages_of(again)


def test_a_move_resubmitted_moves_nothing_more(client):
    staff(client, OPS, "maria")
    account = SocialAccountFactory(state=AccountState.WARMING)
    changelist = reverse("admin:leasing_socialaccount_changelist")
    chosen = {"action": "mark_ready", "_selected_action": [account.pk]}
    page = client.post(changelist, chosen)
    form = {**chosen, **once_on(page), "confirm": "yes", "reason": "Warmed"}

    client.post(changelist, form)
    again = client.post(changelist, form, follow=True)

    assert "Already done: 1 account moved to ready" in messages_of(again)
    assert account.events.count() == 1


def test_a_top_up_resubmitted_is_recorded_once(client, partner):
    staff(client, FINANCE, "fin")
    wallet = Wallet.objects.get(organization=partner.organization)
    top_up = reverse("admin:billing_wallet_top_up", args=[wallet.pk])
    page = client.get(top_up)
    form = {**once_on(page), "amount": "250.00", "reason": "Wire 4471", "reference": ""}

    client.post(top_up, form)
    again = client.post(top_up, form, follow=True)

    assert "Already done: a top-up of $250.00 recorded" in messages_of(again)
    assert (
        LedgerTransaction.objects.filter(kind=TransactionKind.FUNDING, memo="Wire 4471").count()
        == 1
    )


def test_a_large_top_up_confirmed_twice_is_recorded_once_and_says_already_done(client, partner):
    staff(client, FINANCE, "fin")
    wallet = Wallet.objects.get(organization=partner.organization)
    top_up = reverse("admin:billing_wallet_top_up", args=[wallet.pk])
    form = {**once_on(client.get(top_up)), "amount": "20000.00", "reason": "Wire 88"}

    confirmation = client.post(top_up, form)
    assert "Twenty thousand dollars" in confirmation.content.decode()
    assert once_on(confirmation) == {"_once": form["_once"]}
    client.post(top_up, {**once_on(confirmation), **form, "confirm": "Confirm"})
    again = client.post(top_up, {**form, "confirm": "Confirm"}, follow=True)

    assert "Already done: a top-up of $20,000.00 recorded" in messages_of(again)
    assert LedgerTransaction.objects.filter(memo="Wire 88").count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 + 2_000_000


def test_a_form_sent_again_after_its_confirm_shows_no_second_confirmation(client, partner):
    staff(client, FINANCE, "fin")
    move = reverse("admin:billing_wallet_move_money")
    form = {
        **once_on(client.get(move)),
        "organization": partner.organization.pk,
        "kind": "top_up",
        "amount": "15000.00",
        "memo": "Wire 91",
    }
    client.post(move, {**form, "confirm": "Confirm"})

    resent = client.post(move, form, follow=True)  # Back twice, then Record again

    assert "Confirm this" not in resent.content.decode()
    assert "Already done: a top-up of $15,000.00 recorded" in messages_of(resent)
    assert LedgerTransaction.objects.filter(memo="Wire 91").count() == 1


def test_a_confirmation_of_a_forged_token_is_refused_before_it_is_shown(client, partner):
    staff(client, FINANCE, "fin")
    wallet = Wallet.objects.get(organization=partner.organization)
    top_up = reverse("admin:billing_wallet_top_up", args=[wallet.pk])

    response = client.post(top_up, {"_once": "x:y", "amount": "20000.00", "reason": "Wire"})

    assert response.status_code == 200
    assert "This page is out of date" in response.content.decode()
    assert "Confirm this" not in response.content.decode()
    assert once_on(response)["_once"] != "x:y"  # the form starts again with a fresh token
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000


def test_a_refund_sent_twice_refunds_once_and_says_already_done(client, partner):
    staff(client, FINANCE, "fin")
    lease_accounts(partner, count=1)
    charge = LedgerTransaction.objects.get(kind=TransactionKind.CHARGE)
    wallet = Wallet.objects.get(organization=partner.organization)
    refund = reverse("admin:billing_wallet_refund", args=[wallet.pk])
    form = {**once_on(client.get(refund)), "charge": charge.pk, "reason": "Banned"}

    client.post(refund, form)
    again = client.post(refund, form, follow=True)

    assert f"Already done: {charge.pk} refunded" in messages_of(again)
    assert LedgerTransaction.objects.filter(kind=TransactionKind.REVERSAL).count() == 1


def test_a_void_sent_twice_voids_once_and_says_already_done(client, partner):
    staff(client, FINANCE, "fin")
    wallet = Wallet.objects.get(organization=partner.organization)
    top_up = LedgerTransaction.objects.get(kind=TransactionKind.FUNDING)
    void = reverse("admin:billing_wallet_void", args=[wallet.pk, top_up.pk])
    form = {**once_on(client.get(void)), "reason": "Wrong wallet", "description": ""}

    client.post(void, form)
    again = client.post(void, form, follow=True)

    assert f"Already done: {top_up.pk} voided" in messages_of(again)
    assert LedgerTransaction.objects.filter(kind=TransactionKind.TOP_UP_VOID).count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 0
