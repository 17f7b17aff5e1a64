"""The rules of working a request, kept by the services themselves (admin, CLI and any
future caller alike): a poor fit (wrong language, no followers in the asked countries)
is assigned only when the caller accepts it, and a request someone else claimed is
worked only by taking it over; working an unclaimed request claims it."""

import pytest
from django.conf import settings

from billing.selectors import wallet_balance_cents
from leasing.models import Lease, NoteVisibility, RequestNote, RequestStatus
from leasing.services.allocation import PoorFit, allocation_assign, allocation_pick_best
from leasing.services.claims import ClaimTaken, request_claim
from leasing.services.requests import request_close
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory

pytestmark = pytest.mark.django_db

PRICE = settings.LEASE_PRICE_CENTS


@pytest.fixture
def alice():
    return UserFactory(username="alice")


@pytest.fixture
def bob():
    return UserFactory(username="bob")


def beauty_request(partner, count=1):
    return LeaseRequestFactory(
        project=partner.project, vertical="beauty", language="pt-BR", geo=["BR"], count=count
    )


def spanish_beauty(n):
    pool = PoolFactory(name="Beauty ES", tags=["beauty"], language="es", geos=["MX"])
    return [SocialAccountFactory(pool=pool, follower_geos=["MX", "AR"]) for _ in range(n)]


def brazilian_beauty(n):
    pool = PoolFactory(name="Beauty BR", tags=["beauty"], language="pt-BR", geos=["BR"])
    return [SocialAccountFactory(pool=pool, follower_geos=["BR"]) for _ in range(n)]


# Poor fit ------------------------------------------------------------------------------


def test_a_wrong_language_account_is_refused_without_consent_and_nothing_is_charged(partner, alice):
    lease_request = beauty_request(partner)
    [spanish] = spanish_beauty(1)

    with pytest.raises(PoorFit) as refused:
        allocation_assign(lease_request=lease_request, accounts=[spanish], actor=alice)

    assert "language es, asked pt-BR" in str(refused.value)
    assert "no followers in BR" in str(refused.value)
    assert refused.value.account_ids == [spanish.pk]
    assert not Lease.objects.exists()
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000


def test_pick_best_refuses_poor_fits_too_unless_accepted(partner, alice):
    lease_request = beauty_request(partner)
    spanish_beauty(2)

    with pytest.raises(PoorFit):
        allocation_pick_best(lease_request=lease_request, count=1, actor=alice)
    allocation = allocation_pick_best(
        lease_request=lease_request, count=1, actor=alice, allow_poor_fit=True
    )

    assert len(allocation.leases) == 1
    assert allocation.lease_request.status == RequestStatus.ASSIGNED


def test_accounts_matching_language_and_geo_need_no_consent(partner, alice):
    lease_request = beauty_request(partner)
    brazilian_beauty(1)

    allocation = allocation_pick_best(lease_request=lease_request, count=1, actor=alice)

    assert len(allocation.leases) == 1


def test_same_primary_language_is_not_a_poor_fit(partner, alice):
    lease_request = beauty_request(partner)
    pool = PoolFactory(tags=["beauty"], language="pt-PT", geos=["BR"])
    account = SocialAccountFactory(pool=pool, follower_geos=["BR", "PT"])

    allocation_assign(lease_request=lease_request, accounts=[account], actor=alice)

    assert Lease.objects.filter(social_account=account).exists()


# Claims --------------------------------------------------------------------------------


def test_assigning_a_request_claimed_by_someone_else_is_refused(partner, alice, bob):
    lease_request = beauty_request(partner)
    accounts = brazilian_beauty(1)
    request_claim(lease_request=lease_request, actor=alice)

    with pytest.raises(ClaimTaken) as refused:
        allocation_assign(lease_request=lease_request, accounts=accounts, actor=bob)

    assert "alice is working request" in str(refused.value)
    assert not Lease.objects.exists()
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000


def test_taking_over_while_assigning_moves_the_claim_and_leaves_a_note(partner, alice, bob):
    lease_request = beauty_request(partner)
    request_claim(lease_request=lease_request, actor=alice)
    brazilian_beauty(1)

    allocation_pick_best(lease_request=lease_request, count=1, actor=bob, take_over=True)

    lease_request.refresh_from_db()
    assert lease_request.claimed_by == bob
    note = RequestNote.objects.get(lease_request=lease_request)
    assert note.body == "Took over the claim from alice."
    assert note.visibility == NoteVisibility.INTERNAL and note.author == bob


def test_assigning_an_unclaimed_request_claims_it(partner, bob):
    lease_request = beauty_request(partner, count=2)

    allocation_assign(lease_request=lease_request, accounts=brazilian_beauty(1), actor=bob)

    lease_request.refresh_from_db()
    assert lease_request.claimed_by == bob and lease_request.claimed_at is not None


def test_closing_a_request_claimed_by_someone_else_is_refused(partner, alice, bob):
    lease_request = beauty_request(partner)
    request_claim(lease_request=lease_request, actor=alice)

    with pytest.raises(ClaimTaken):
        request_close(
            lease_request=lease_request,
            outcome=RequestStatus.REJECTED,
            note="No Brazilian beauty pool.",
            partner_visible=True,
            actor=bob,
        )
    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.REQUESTED
    assert not RequestNote.objects.exists()


def test_closing_with_take_over_and_closing_unclaimed_claim_it(partner, alice, bob):
    theirs, nobodys = beauty_request(partner), beauty_request(partner)
    request_claim(lease_request=theirs, actor=alice)

    for lease_request in (theirs, nobodys):
        request_close(
            lease_request=lease_request,
            outcome=RequestStatus.REJECTED,
            note="No Brazilian beauty pool.",
            partner_visible=False,
            actor=bob,
            take_over=lease_request is theirs,
        )

    theirs.refresh_from_db()
    nobodys.refresh_from_db()
    assert theirs.claimed_by == bob and nobodys.claimed_by == bob
    assert theirs.status == nobodys.status == RequestStatus.REJECTED
    assert RequestNote.objects.filter(
        lease_request=theirs, body="Took over the claim from alice."
    ).exists()


def test_the_system_needs_take_over_for_a_claimed_request_too(partner, alice):
    lease_request = beauty_request(partner)
    request_claim(lease_request=lease_request, actor=alice)
    accounts = brazilian_beauty(1)

    with pytest.raises(ClaimTaken):
        allocation_assign(lease_request=lease_request, accounts=accounts, actor=None)
    allocation_assign(lease_request=lease_request, accounts=accounts, actor=None, take_over=True)

    lease_request.refresh_from_db()
    assert lease_request.claimed_by is None
    assert RequestNote.objects.filter(
        lease_request=lease_request, body="The system took over the claim from alice."
    ).exists()
