"""Real threads on PostgreSQL: two ops people working the same unclaimed request at once."""

import pytest

from leasing.models import Lease, LeaseRequest
from leasing.services.allocation import allocation_pick_best
from leasing.services.claims import ClaimTaken
from leasing.services.errors import LeasingError
from tests.conftest import make_partner
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory
from tests.test_concurrency import fire

pytestmark = pytest.mark.django_db(transaction=True)


def test_two_people_assigning_one_unclaimed_request_at_once_one_wins_the_claim():
    partner = make_partner()
    pool = PoolFactory(tags=["coffee"])
    for i in range(4):
        SocialAccountFactory(pool=pool, followers=1_000 * i)
    lease_request = LeaseRequestFactory(project=partner.project, count=2)
    people = [UserFactory(username="alice"), UserFactory(username="bob")]

    def work(i):
        try:
            return allocation_pick_best(lease_request=lease_request, count=1, actor=people[i])
        except LeasingError as exc:
            return exc

    results = fire(2, work)

    won = [r for r in results if not isinstance(r, Exception)]
    lost = [r for r in results if isinstance(r, Exception)]
    assert len(won) == 1 and len(lost) == 1 and isinstance(lost[0], ClaimTaken)
    winner = LeaseRequest.objects.get(pk=lease_request.pk).claimed_by
    assert Lease.objects.get().assigned_by == winner
