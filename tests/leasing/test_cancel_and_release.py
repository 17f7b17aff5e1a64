"""The partner ends things: cancels a request, releases a leased account; ops end leases."""

import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import wallet_balance_cents
from leasing.models import (
    AccountEvent,
    AccountState,
    DisconnectReason,
    Lease,
    LeaseStatus,
    NoteVisibility,
    RequestNote,
    RequestStatus,
    SocialAccount,
)
from leasing.services.allocation import allocation_assign
from leasing.services.errors import RequestClosed
from leasing.services.leases import LeaseEnded, lease_end
from leasing.services.renewals import leases_renew
from leasing.services.requests import lease_request_cancel
from tests.api.test_auth_and_errors import assert_envelope
from tests.factories import (
    LeaseFactory,
    LeaseRequestFactory,
    PoolFactory,
    SocialAccountFactory,
    UserFactory,
)
from tests.once import once_on

pytestmark = pytest.mark.django_db

PRICE = settings.LEASE_PRICE_CENTS


def cancel_url(lease_request):
    return (
        f"/v1/projects/{lease_request.project_id}/leased-accounts/requests/"
        f"{lease_request.public_id}/cancel"
    )


def release_url(account_id):
    return f"/v1/leased-accounts/{account_id}"


def ready(n):
    pool = PoolFactory(tags=["coffee"])
    return [SocialAccountFactory(pool=pool) for _ in range(n)]


def leased(partner, **fields):
    lease_request = LeaseRequestFactory(project=partner.project, count=1)
    return LeaseFactory(lease_request=lease_request, **fields)


def balance(partner):
    return wallet_balance_cents(organization_id=partner.organization.pk)


# Cancel ------------------------------------------------------------------------------------


def test_cancelling_an_open_request_answers_it_cancelled_and_charges_nothing(partner):
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    before = balance(partner)

    response = partner.client.post(cancel_url(lease_request))

    assert response.status_code == 200
    body = response.json()
    assert body["requestId"] == lease_request.public_id
    assert body["status"] == "cancelled"
    assert body["assignedSocialAccountIds"] == []
    assert response["Location"].endswith(
        f"/v1/projects/{partner.project.pk}/leased-accounts/requests/{lease_request.public_id}"
    )
    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.CANCELLED
    assert lease_request.closed_at is not None and lease_request.closed_by is None
    assert balance(partner) == before
    assert not LedgerTransaction.objects.exclude(kind=TransactionKind.FUNDING).exists()


def test_cancel_leaves_an_internal_system_note_the_partner_does_not_see(partner):
    lease_request = LeaseRequestFactory(project=partner.project)

    body = partner.client.post(cancel_url(lease_request)).json()

    note = RequestNote.objects.get(lease_request=lease_request)
    assert note.visibility == NoteVisibility.INTERNAL
    assert note.author_name == "system"
    assert "Cancelled by the partner" in note.body and partner.api_key.pk in note.body
    assert body["note"] is None


def test_cancelling_after_some_were_assigned_closes_it_partial_and_keeps_them_billed(partner):
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    accounts = ready(2)
    allocation_assign(lease_request=lease_request, accounts=accounts, actor=None)
    before = balance(partner)

    response = partner.client.post(cancel_url(lease_request))

    assert response.status_code == 200
    assert response.json()["status"] == "partial"
    assert sorted(response.json()["assignedSocialAccountIds"]) == sorted(a.pk for a in accounts)
    assert balance(partner) == before
    assert Lease.objects.filter(lease_request=lease_request, status="assigned").count() == 2
    assert "2 of 3" in RequestNote.objects.get(lease_request=lease_request).body


def test_cancelling_twice_answers_the_cancelled_request_again(partner):
    lease_request = LeaseRequestFactory(project=partner.project)
    first = partner.client.post(cancel_url(lease_request))

    again = partner.client.post(cancel_url(lease_request))

    assert again.status_code == 200
    assert again.json() == first.json()
    assert RequestNote.objects.filter(lease_request=lease_request).count() == 1


@pytest.mark.parametrize(
    "status", [RequestStatus.ASSIGNED, RequestStatus.PARTIAL, RequestStatus.REJECTED]
)
def test_cancelling_a_request_closed_otherwise_is_409_naming_its_status(partner, status):
    lease_request = LeaseRequestFactory(project=partner.project, status=status)

    response = partner.client.post(cancel_url(lease_request))

    assert_envelope(response, 409, "CONFLICT")
    assert f"already {status}" in response.json()["error"]["message"]
    lease_request.refresh_from_db()
    assert lease_request.status == status


def test_another_organizations_request_is_404_and_stays_open(partner, other_partner):
    theirs = LeaseRequestFactory(project=other_partner.project)

    response = partner.client.post(
        f"/v1/projects/{partner.project.pk}/leased-accounts/requests/{theirs.public_id}/cancel"
    )
    direct = partner.client.post(cancel_url(theirs))

    assert_envelope(response, 404, "NOT_FOUND")
    assert_envelope(direct, 404, "NOT_FOUND")
    theirs.refresh_from_db()
    assert theirs.status == RequestStatus.REQUESTED


def test_cancel_needs_leased_write(partner):
    lease_request = LeaseRequestFactory(project=partner.project)

    response = partner.client_with("leased:read").post(cancel_url(lease_request))

    assert_envelope(response, 403, "FORBIDDEN_SCOPE")


def test_cancel_with_an_idempotency_key_replays_the_first_answer(partner):
    lease_request = LeaseRequestFactory(project=partner.project, count=2)
    allocation_assign(lease_request=lease_request, accounts=ready(1), actor=None)
    key = str(uuid.uuid4())

    first = partner.client.post(cancel_url(lease_request), HTTP_IDEMPOTENCY_KEY=key)
    replay = partner.client.post(cancel_url(lease_request), HTTP_IDEMPOTENCY_KEY=key)
    without = partner.client.post(cancel_url(lease_request))

    assert first.status_code == replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.content == first.content and first.json()["status"] == "partial"
    assert replay["Location"] == first["Location"]
    assert_envelope(without, 409, "CONFLICT")  # partial: a cancel without the key says so


def test_allocating_to_a_cancelled_request_is_refused(partner):
    lease_request = LeaseRequestFactory(project=partner.project)
    lease_request_cancel(lease_request=lease_request, api_key=None)

    with pytest.raises(RequestClosed):
        allocation_assign(lease_request=lease_request, accounts=ready(1), actor=None)
    assert not Lease.objects.exists()


# Release -----------------------------------------------------------------------------------


def test_releasing_disconnects_the_lease_and_cools_the_account_without_refund(partner):
    lease = leased(partner)
    before = balance(partner)

    response = partner.client.delete(release_url(lease.social_account_id))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"socialAccountId", "status", "disconnectedReason", "disconnectedAt"}
    assert body["socialAccountId"] == lease.social_account_id
    assert body["status"] == "disconnected"
    assert body["disconnectedReason"] == "released_by_partner"
    lease.refresh_from_db()
    assert lease.status == LeaseStatus.DISCONNECTED
    assert lease.disconnected_reason == DisconnectReason.RELEASED_BY_PARTNER
    assert lease.next_renewal_at is None
    assert body["disconnectedAt"] == lease.disconnected_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    account = SocialAccount.objects.get(pk=lease.social_account_id)
    assert account.state == AccountState.COOLDOWN
    event = AccountEvent.objects.get(account=account)
    assert (event.from_state, event.to_state, event.actor_label) == (
        "leased",
        "cooldown",
        "system",
    )
    assert event.reason == "Released by the partner"
    assert balance(partner) == before


def test_the_released_account_lists_as_disconnected(partner):
    lease = leased(partner)
    partner.client.delete(release_url(lease.social_account_id))

    assigned = partner.client.get("/v1/leased-accounts").json()["items"]
    ended = partner.client.get("/v1/leased-accounts?status=disconnected").json()["items"]

    assert assigned == []
    assert [item["socialAccountId"] for item in ended] == [lease.social_account_id]
    assert ended[0]["disconnectedReason"] == "released_by_partner"


def test_releasing_again_answers_the_same_body(partner):
    lease = leased(partner)
    first = partner.client.delete(release_url(lease.social_account_id))

    again = partner.client.delete(release_url(lease.social_account_id))

    assert again.status_code == 200 and again.json() == first.json()
    assert AccountEvent.objects.filter(account_id=lease.social_account_id).count() == 1


@pytest.mark.parametrize("reason", [DisconnectReason.UNPAID, DisconnectReason.OPS])
def test_releasing_a_lease_that_ended_otherwise_is_409(partner, reason):
    lease = leased(partner, disconnected=True, disconnected_reason=reason, next_renewal_at=None)

    response = partner.client.delete(release_url(lease.social_account_id))

    assert_envelope(response, 409, "CONFLICT")
    assert response.json()["error"]["details"][0]["message"] == reason


def test_an_account_not_leased_to_the_organization_is_404(partner, other_partner):
    theirs = leased(other_partner)
    never_leased = SocialAccountFactory()

    for account_id in (theirs.social_account_id, never_leased.pk, "sa_nothing"):
        assert_envelope(partner.client.delete(release_url(account_id)), 404, "NOT_FOUND")
    theirs.refresh_from_db()
    assert theirs.status == LeaseStatus.ASSIGNED


def test_a_running_lease_is_released_even_after_an_older_one_of_the_account_ended(partner):
    account = SocialAccountFactory(state=AccountState.LEASED)
    long_ago = timezone.now() - timedelta(days=90)
    leased(partner, social_account=account, assigned_at=long_ago, disconnected=True)
    running = leased(partner, social_account=account)

    response = partner.client.delete(release_url(account.pk))

    assert response.status_code == 200
    running.refresh_from_db()
    assert running.disconnected_reason == DisconnectReason.RELEASED_BY_PARTNER


def test_release_needs_leased_write(partner):
    lease = leased(partner)

    response = partner.client_with("leased:read").delete(release_url(lease.social_account_id))

    assert_envelope(response, 403, "FORBIDDEN_SCOPE")


def test_a_released_lease_is_never_charged_by_a_later_renewal_run(partner):
    lease = leased(partner, assigned_at=timezone.now() - timedelta(days=40), periods_paid=1)
    partner.client.delete(release_url(lease.social_account_id))

    summary = leases_renew(at=timezone.now() + timedelta(days=90), allow_future=True)

    assert summary.leases_claimed == 0
    assert not LedgerTransaction.objects.filter(lease_id=lease.pk).exists()


def test_ending_an_ended_lease_raises(partner):
    lease = leased(partner)
    lease_end(lease=lease, reason=DisconnectReason.OPS)

    with pytest.raises(LeaseEnded):
        lease_end(lease=lease, reason=DisconnectReason.RELEASED_BY_PARTNER)


# Ops: End selected leases ------------------------------------------------------------------

CHANGELIST = "admin:leasing_lease_changelist"


def staff(client, group_name):
    user = UserFactory(username=group_name.lower())
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    return user


def action(leases, **extra):
    return {"action": "end_leases", "_selected_action": [lease.pk for lease in leases], **extra}


def test_ops_end_leases_after_giving_a_reason(client, partner):
    ops = staff(client, "Ops")
    leases = [leased(partner) for _ in range(2)]
    ended_before = leased(partner, disconnected=True, next_renewal_at=None)
    url = reverse(CHANGELIST)

    page = client.post(url, action([*leases, ended_before]))
    assert page.status_code == 200
    assert b"2 running leases will end now" in page.content
    assert b"already ended" in page.content

    refused = client.post(url, action(leases, confirm="yes", reason="  "))
    assert refused.status_code == 200 and b"This field is required" in refused.content
    assert Lease.objects.filter(status="assigned").count() == 2

    form = action(leases, confirm="yes", reason="Banned by TikTok", **once_on(page))
    done = client.post(url, form, follow=True)

    assert b"Ended 2 lease(s)" in done.content
    for lease in leases:
        lease.refresh_from_db()
        assert lease.disconnected_reason == DisconnectReason.OPS
        event = AccountEvent.objects.get(account_id=lease.social_account_id)
        assert event.actor == ops
        assert event.reason == "Ended by ops: Banned by TikTok"


def test_finance_cannot_end_leases(client, partner):
    staff(client, "Finance")
    lease = leased(partner)

    listing = client.get(reverse(CHANGELIST))
    response = client.post(reverse(CHANGELIST), action([lease], confirm="yes", reason="x"))

    assert listing.status_code == 200
    assert b"end_leases" not in listing.content
    assert response.status_code in (200, 302)
    lease.refresh_from_db()
    assert lease.status == LeaseStatus.ASSIGNED


def test_ops_holds_the_end_lease_permission_and_finance_does_not(db):
    ops, finance = UserFactory(username="o"), UserFactory(username="f")
    ops.groups.add(Group.objects.get(name="Ops"))
    finance.groups.add(Group.objects.get(name="Finance"))

    assert ops.has_perm("leasing.end_lease")
    assert not finance.has_perm("leasing.end_lease")


def test_words_under_leased_accounts_are_not_an_account_id(partner):
    response = partner.client.get("/v1/leased-accounts/requests")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
