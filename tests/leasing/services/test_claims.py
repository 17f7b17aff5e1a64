"""Claiming requests: one person works a request at a time."""

import pytest
from django.db import IntegrityError, transaction

from leasing.models import Lease, RequestNote, RequestStatus
from leasing.services.claims import ClaimTaken, request_claim, request_unclaim
from leasing.services.errors import RequestClosed
from tests.factories import LeaseFactory, LeaseRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return UserFactory(username="alice")


@pytest.fixture
def bob():
    return UserFactory(username="bob")


def test_claiming_records_who_and_when(alice):
    lease_request = LeaseRequestFactory()

    claim = request_claim(lease_request=lease_request, actor=alice)

    lease_request.refresh_from_db()
    assert lease_request.claimed_by == alice and lease_request.claimed_at is not None
    assert claim.previous_holder is None


def test_a_claimed_request_cannot_be_claimed_by_someone_else(alice, bob):
    lease_request = LeaseRequestFactory()
    request_claim(lease_request=lease_request, actor=alice)

    with pytest.raises(ClaimTaken, match="alice is working request"):
        request_claim(lease_request=lease_request, actor=bob)

    lease_request.refresh_from_db()
    assert lease_request.claimed_by == alice


def test_taking_over_says_whose_claim_it_was(alice, bob):
    lease_request = LeaseRequestFactory()
    request_claim(lease_request=lease_request, actor=alice)

    claim = request_claim(lease_request=lease_request, actor=bob, take_over=True)

    assert claim.previous_holder == alice
    lease_request.refresh_from_db()
    assert lease_request.claimed_by == bob
    note = RequestNote.objects.get(lease_request=lease_request)
    assert note.body == "Took over the claim from alice." and note.visibility == "internal"


def test_claiming_again_is_a_no_op(alice):
    lease_request = LeaseRequestFactory()
    request_claim(lease_request=lease_request, actor=alice)

    assert request_claim(lease_request=lease_request, actor=alice).previous_holder is None


def test_only_the_holder_unclaims(alice, bob):
    lease_request = LeaseRequestFactory()
    request_claim(lease_request=lease_request, actor=alice)

    with pytest.raises(ClaimTaken):
        request_unclaim(lease_request=lease_request, actor=bob)
    request_unclaim(lease_request=lease_request, actor=alice)

    lease_request.refresh_from_db()
    assert lease_request.claimed_by is None and lease_request.claimed_at is None


def test_closed_requests_cannot_be_claimed(alice):
    lease_request = LeaseRequestFactory(status=RequestStatus.REJECTED)

    with pytest.raises(RequestClosed):
        request_claim(lease_request=lease_request, actor=alice)


def test_the_database_refuses_more_leases_than_the_request_count():
    lease_request = LeaseRequestFactory(count=2)
    LeaseFactory(lease_request=lease_request)
    LeaseFactory(lease_request=lease_request)

    with pytest.raises(IntegrityError, match="more than its count"), transaction.atomic():
        LeaseFactory(lease_request=lease_request)
    assert Lease.objects.filter(lease_request=lease_request).count() == 2
