"""Real threads on PostgreSQL: a cancel racing an allocation, a release racing renewals."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import ledger_verify
from leasing.models import (
    AccountState,
    DisconnectReason,
    Lease,
    LeaseStatus,
    RequestStatus,
    SocialAccount,
)
from leasing.services.allocation import allocation_assign
from leasing.services.errors import LeasingError, RequestClosed
from leasing.services.leases import lease_end
from leasing.services.renewals import leases_renew
from leasing.services.requests import lease_request_cancel
from tests.conftest import make_partner
from tests.factories import LeaseFactory, LeaseRequestFactory, PoolFactory, SocialAccountFactory
from tests.leasing.test_cancel_and_release import cancel_url
from tests.test_concurrency import fire

pytestmark = pytest.mark.django_db(transaction=True)

BLOCKED_FOR = 0.5  # seconds the second transaction must still be waiting


def in_thread(call):
    """Run ``call`` on its own connection; returns a future of its result or exception."""

    def run():
        try:
            return call()
        except LeasingError as exc:
            return exc
        finally:
            connection.close()

    pool = ThreadPoolExecutor(max_workers=1)
    future = pool.submit(run)
    pool.shutdown(wait=False)
    return future


def holding(service, **arguments):
    """Run ``service`` in a transaction that stays open (its locks held) until released."""
    done, release = threading.Event(), threading.Event()

    def call():
        with transaction.atomic():
            result = service(**arguments)
            done.set()
            release.wait(timeout=30)
        return result

    return in_thread(call), done, release


def ready(n):
    pool = PoolFactory(tags=["coffee"])
    return [SocialAccountFactory(pool=pool) for _ in range(n)]


def test_a_cancel_waits_for_an_allocation_holding_the_request_and_closes_it_partial():
    partner = make_partner()
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    accounts = ready(1)
    allocating, allocated, release = holding(
        allocation_assign, lease_request=lease_request, accounts=accounts, actor=None
    )
    assert allocated.wait(timeout=30)

    cancelling = in_thread(lambda: lease_request_cancel(lease_request=lease_request, api_key=None))
    with pytest.raises(TimeoutError):
        cancelling.result(timeout=BLOCKED_FOR)  # blocked on the request's row lock
    release.set()

    assert not isinstance(allocating.result(timeout=30), Exception)
    assert cancelling.result(timeout=30).status == RequestStatus.PARTIAL
    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.PARTIAL
    assert Lease.objects.get().status == LeaseStatus.ASSIGNED


def test_an_allocation_waits_for_a_cancel_holding_the_request_and_then_refuses():
    partner = make_partner()
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    accounts = ready(2)
    cancelling, cancelled, release = holding(
        lease_request_cancel, lease_request=lease_request, api_key=None
    )
    assert cancelled.wait(timeout=30)

    allocating = in_thread(
        lambda: allocation_assign(lease_request=lease_request, accounts=accounts, actor=None)
    )
    with pytest.raises(TimeoutError):
        allocating.result(timeout=BLOCKED_FOR)
    release.set()

    assert cancelling.result(timeout=30).status == RequestStatus.CANCELLED
    assert isinstance(allocating.result(timeout=30), RequestClosed)
    assert not Lease.objects.exists()
    assert not LedgerTransaction.objects.filter(kind=TransactionKind.CHARGE).exists()
    assert set(SocialAccount.objects.values_list("state", flat=True)) == {AccountState.READY}


def test_cancels_and_allocations_released_together_always_agree():
    partner = make_partner()
    for _ in range(8):
        lease_request = LeaseRequestFactory(project=partner.project, count=2)
        accounts = ready(1)

        def race(i, lease_request=lease_request, accounts=accounts):
            try:
                if i == 0:
                    return allocation_assign(
                        lease_request=lease_request, accounts=accounts, actor=None
                    )
                return lease_request_cancel(lease_request=lease_request, api_key=None)
            except LeasingError as exc:
                return exc

        allocation, cancel = fire(2, race)

        lease_request.refresh_from_db()
        leases = Lease.objects.filter(lease_request=lease_request).count()
        charges = LedgerTransaction.objects.filter(
            kind=TransactionKind.CHARGE, reference=lease_request.public_id
        ).count()
        if isinstance(allocation, RequestClosed):  # the cancel came first
            assert lease_request.status == RequestStatus.CANCELLED
            assert (leases, charges) == (0, 0)
        else:
            assert lease_request.status == RequestStatus.PARTIAL
            assert (leases, charges) == (1, 1)
        assert cancel.status == lease_request.status
    assert ledger_verify() == []


def cancel_by_api(partner, lease_request):
    """The partner's POST …/cancel, as a plain HTTP client on its own thread would send it."""
    response = Client().post(
        cancel_url(lease_request), HTTP_AUTHORIZATION=f"Bearer {partner.token}"
    )
    return response.status_code, response.json()


def test_a_cancel_409_after_waiting_for_an_allocation_names_the_status_it_met():
    partner = make_partner()
    lease_request = LeaseRequestFactory(project=partner.project, count=1)
    allocating, allocated, release = holding(
        allocation_assign, lease_request=lease_request, accounts=ready(1), actor=None
    )
    assert allocated.wait(timeout=30)

    cancelling = in_thread(lambda: cancel_by_api(partner, lease_request))
    with pytest.raises(TimeoutError):
        cancelling.result(timeout=BLOCKED_FOR)  # read "requested", now waits for the lock
    release.set()
    allocating.result(timeout=30)

    status, body = cancelling.result(timeout=30)
    assert status == 409
    error = body["error"]
    assert "already assigned" in error["message"]
    assert error["details"] == [{"field": "status", "message": "assigned"}]


def test_a_cancel_200_after_waiting_for_an_allocation_shows_what_it_assigned():
    partner = make_partner()
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    accounts = ready(1)
    allocating, allocated, release = holding(
        allocation_assign, lease_request=lease_request, accounts=accounts, actor=None
    )
    assert allocated.wait(timeout=30)

    cancelling = in_thread(lambda: cancel_by_api(partner, lease_request))
    with pytest.raises(TimeoutError):
        cancelling.result(timeout=BLOCKED_FOR)
    release.set()
    allocating.result(timeout=30)

    status, body = cancelling.result(timeout=30)
    assert status == 200
    assert body["status"] == "partial"
    assert body["assignedSocialAccountIds"] == [accounts[0].pk]


def test_cancels_racing_allocations_by_api_answer_one_status_in_message_details_and_body():
    partner = make_partner()
    for _ in range(8):
        lease_request = LeaseRequestFactory(project=partner.project, count=1)
        accounts = ready(1)

        def race(i, lease_request=lease_request, accounts=accounts):
            if i == 0:
                try:
                    return allocation_assign(
                        lease_request=lease_request, accounts=accounts, actor=None
                    )
                except LeasingError as exc:
                    return exc
            return cancel_by_api(partner, lease_request)

        allocation, (status, body) = fire(2, race)

        lease_request.refresh_from_db()
        if isinstance(allocation, RequestClosed):  # the cancel came first
            assert (status, body["status"]) == (200, "cancelled")
        else:  # the allocation filled it first
            assert status == 409
            assert f"already {lease_request.status}" in body["error"]["message"]
            assert body["error"]["details"][0]["message"] == lease_request.status == "assigned"


def test_a_release_racing_renewal_runs_is_charged_at_most_once_and_never_after():
    partner = make_partner()
    now = timezone.now()
    leases = [
        LeaseFactory(
            lease_request=LeaseRequestFactory(project=partner.project, count=1),
            assigned_at=now - timedelta(days=40),
        )
        for _ in range(6)
    ]

    def race(i):
        try:
            if i < len(leases):
                return lease_end(lease=leases[i], reason=DisconnectReason.RELEASED_BY_PARTNER)
            return leases_renew(at=now)
        except LeasingError as exc:
            return exc

    results = fire(len(leases) + 2, race)
    later = leases_renew(at=now + timedelta(days=120), allow_future=True)

    assert not any(isinstance(r, Exception) for r in results)
    assert later.leases_claimed == 0
    for lease in leases:
        lease.refresh_from_db()
        assert lease.status == LeaseStatus.DISCONNECTED
        assert lease.disconnected_reason == DisconnectReason.RELEASED_BY_PARTNER
        assert lease.next_renewal_at is None
        renewals = LedgerTransaction.objects.filter(lease_id=lease.pk, kind=TransactionKind.RENEWAL)
        assert list(renewals.values_list("period", flat=True)) in ([], [1])
    assert set(SocialAccount.objects.values_list("state", flat=True)) == {AccountState.COOLDOWN}
    assert ledger_verify() == []


def test_a_release_waits_for_a_renewal_holding_the_lease_and_ends_it_after():
    partner = make_partner()
    lease = LeaseFactory(
        lease_request=LeaseRequestFactory(project=partner.project, count=1),
        assigned_at=timezone.now() - timedelta(days=40),
    )
    locker, locked, release = holding(
        lambda: Lease.objects.select_for_update().get(pk=lease.pk)  # as a renewal batch claims
    )
    assert locked.wait(timeout=30)

    releasing = in_thread(
        lambda: lease_end(lease=lease, reason=DisconnectReason.RELEASED_BY_PARTNER)
    )
    with pytest.raises(TimeoutError):
        releasing.result(timeout=BLOCKED_FOR)
    release.set()
    locker.result(timeout=30)

    assert releasing.result(timeout=30).status == LeaseStatus.DISCONNECTED
    assert (
        leases_renew(at=timezone.now() + timedelta(days=60), allow_future=True).leases_claimed == 0
    )
