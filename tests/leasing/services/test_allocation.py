"""Allocation: assign ready accounts, lease them and charge the first month, as one."""

import pytest
from django.conf import settings

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import wallet_balance_cents
from leasing.models import AccountEvent, AccountState, Lease, RequestStatus
from leasing.periods import period_start
from leasing.services.allocation import AccountsUnavailable, WalletShort, allocation_assign
from leasing.services.errors import LeasingError, RequestClosed
from leasing.services.inventory import account_move
from leasing.services.requests import request_close
from tests.conftest import make_partner
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory

pytestmark = pytest.mark.django_db

PRICE = settings.LEASE_PRICE_CENTS


@pytest.fixture
def ops():
    return UserFactory(username="ops-alloc")


def open_request(partner, count=5, vertical="coffee"):
    return LeaseRequestFactory(project=partner.project, count=count, vertical=vertical)


def ready_accounts(n, tags=("coffee",)):
    pool = PoolFactory(tags=list(tags))
    return [SocialAccountFactory(pool=pool) for _ in range(n)]


def test_assigning_leases_the_accounts_and_charges_each_once(partner, ops):
    lease_request = open_request(partner, count=5)
    accounts = ready_accounts(3)
    before = wallet_balance_cents(organization_id=partner.organization.pk)

    allocation = allocation_assign(lease_request=lease_request, accounts=accounts, actor=ops)

    assert sorted(allocation.account_ids) == sorted(a.pk for a in accounts)
    assert allocation.charged_cents == 3 * PRICE
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before - 3 * PRICE
    charges = LedgerTransaction.objects.filter(kind=TransactionKind.CHARGE)
    assert sorted(c.lease_id for c in charges) == sorted(lease.pk for lease in allocation.leases)
    assert {c.actor_label for c in charges} == {"ops-alloc"}
    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.REQUESTED  # 3 of 5: still open
    assert lease_request.assigned_at is not None
    lease = Lease.objects.get(pk=allocation.leases[0].pk)
    assert lease.next_renewal_at == period_start(lease.assigned_at, 1)
    assert lease.periods_paid == 1
    assert {a.state for a in type(accounts[0]).objects.filter(pk__in=[a.pk for a in accounts])} == {
        AccountState.LEASED
    }
    assert AccountEvent.objects.filter(to_state=AccountState.LEASED, actor=ops).count() == 3


def test_a_request_fills_in_steps_and_closes_itself_when_full(partner, ops):
    lease_request = open_request(partner, count=3)
    first, second = ready_accounts(2), ready_accounts(1)

    allocation_assign(lease_request=lease_request, accounts=first, actor=ops)
    first_assigned_at = type(lease_request).objects.get(pk=lease_request.pk).assigned_at
    allocation_assign(lease_request=lease_request, accounts=second, actor=ops)

    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.ASSIGNED
    assert lease_request.assigned_at == first_assigned_at  # the first assignment's time
    with pytest.raises(RequestClosed):
        allocation_assign(lease_request=lease_request, accounts=ready_accounts(1), actor=ops)


def test_more_than_count_is_refused(partner, ops):
    lease_request = open_request(partner, count=2)

    with pytest.raises(LeasingError, match="needs 2 more"):
        allocation_assign(lease_request=lease_request, accounts=ready_accounts(3), actor=ops)

    assert not Lease.objects.exists()


def test_an_account_taken_meanwhile_refuses_the_whole_choice(partner, ops):
    accounts = ready_accounts(2)
    allocation_assign(lease_request=open_request(partner), accounts=accounts[:1], actor=ops)
    before = wallet_balance_cents(organization_id=partner.organization.pk)

    with pytest.raises(AccountsUnavailable) as refused:
        allocation_assign(lease_request=open_request(partner), accounts=accounts, actor=ops)

    assert refused.value.account_ids == [accounts[0].pk]
    assert Lease.objects.count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before


def test_accounts_from_a_pool_of_another_vertical_do_not_fit(partner, ops):
    with pytest.raises(LeasingError, match="tagged 'coffee'"):
        allocation_assign(
            lease_request=open_request(partner), accounts=ready_accounts(1, ["fitness"]), actor=ops
        )


def test_a_wallet_short_of_the_whole_choice_changes_nothing_and_says_what_it_covers(db, ops):
    partner = make_partner(wallet_cents=2 * PRICE + 100)
    accounts = ready_accounts(3)

    with pytest.raises(WalletShort) as short:
        allocation_assign(lease_request=open_request(partner), accounts=accounts, actor=ops)

    assert short.value.covers == 2
    assert "covers 2 of the 3" in str(short.value)
    assert not Lease.objects.exists()
    assert not LedgerTransaction.objects.filter(kind=TransactionKind.CHARGE).exists()
    assert {a.state for a in type(accounts[0]).objects.all()} == {AccountState.READY}


def test_partial_close_needs_an_assignment_and_bills_nothing_more(partner, ops):
    lease_request = open_request(partner, count=5)
    with pytest.raises(LeasingError, match="reject"):
        request_close(
            lease_request=lease_request,
            outcome="partial",
            note="x",
            partner_visible=True,
            actor=ops,
        )
    allocation_assign(lease_request=lease_request, accounts=ready_accounts(2), actor=ops)
    before = wallet_balance_cents(organization_id=partner.organization.pk)

    request_close(
        lease_request=lease_request,
        outcome=RequestStatus.PARTIAL,
        note="Only two warmed coffee accounts this week",
        partner_visible=True,
        actor=ops,
    )

    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.PARTIAL
    assert lease_request.closed_by == ops
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before
    body = partner.client.get(f"/v1/leased-accounts/requests/{lease_request.public_id}").json()
    assert body["status"] == "partial"
    assert body["note"] == "Only two warmed coffee accounts this week"
    assert len(body["assignedSocialAccountIds"]) == 2


def test_reject_refuses_once_accounts_are_assigned_and_needs_a_note(partner, ops):
    lease_request = open_request(partner)
    with pytest.raises(LeasingError, match="needs a note"):
        request_close(
            lease_request=lease_request,
            outcome="rejected",
            note=" ",
            partner_visible=False,
            actor=ops,
        )
    allocation_assign(lease_request=lease_request, accounts=ready_accounts(1), actor=ops)

    with pytest.raises(LeasingError, match="partial instead"):
        request_close(
            lease_request=lease_request,
            outcome="rejected",
            note="no",
            partner_visible=False,
            actor=ops,
        )


def test_account_moves_follow_the_lifecycle(ops):
    account = SocialAccountFactory(state=AccountState.WARMING)

    account_move(account=account, to_state=AccountState.READY, actor=ops, reason="warmed")
    with pytest.raises(LeasingError, match="allocating"):
        account_move(account=account, to_state=AccountState.LEASED, actor=ops)
    account_move(account=account, to_state=AccountState.RETIRED, actor=ops)
    with pytest.raises(LeasingError, match="cannot move"):
        account_move(account=account, to_state=AccountState.READY, actor=ops)

    account.refresh_from_db()
    assert account.warmed_since is not None
    assert [e.to_state for e in account.events.order_by("pk")] == ["ready", "retired"]
