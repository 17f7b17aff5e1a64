"""Ranking ready accounts for a request, and picking the best N."""

import pytest
from django.conf import settings

from billing.selectors import wallet_balance_cents
from leasing.models import AccountState, Lease, RequestStatus, SocialAccount
from leasing.ranking import allocation_candidates, language_points, ready_supply_count
from leasing.services.allocation import AccountsUnavailable, WalletShort, allocation_pick_best
from leasing.services.errors import LeasingError, RequestClosed
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory

pytestmark = pytest.mark.django_db

PRICE = settings.LEASE_PRICE_CENTS


@pytest.fixture
def ops():
    return UserFactory(username="ops-rank")


def test_only_ready_accounts_in_pools_tagged_with_the_vertical_are_candidates(partner):
    coffee = PoolFactory(tags=["Food", "Coffee "])
    fitness = PoolFactory(tags=["fitness"])
    ready = SocialAccountFactory(pool=coffee)
    SocialAccountFactory(pool=coffee, state=AccountState.WARMING)
    SocialAccountFactory(pool=coffee, state=AccountState.LEASED)
    SocialAccountFactory(pool=fitness)
    lease_request = LeaseRequestFactory(project=partner.project, vertical="coffee")

    candidates = allocation_candidates(lease_request, limit=10)

    assert [c.account.pk for c in candidates] == [ready.pk]
    assert ready_supply_count(lease_request) == 1


def test_language_geo_and_followers_order_the_candidates_with_reasons(partner):
    english = PoolFactory(name="Coffee EN", tags=["coffee"], language="en-US")
    portuguese = PoolFactory(name="Coffee PT", tags=["coffee"], language="pt-BR")
    best = SocialAccountFactory(pool=english, follower_geos=["US", "CA"], followers=50_000)
    one_geo = SocialAccountFactory(pool=english, follower_geos=["US"], followers=400_000)
    no_geo = SocialAccountFactory(pool=english, follower_geos=["BR"], followers=90_000)
    wrong_language = SocialAccountFactory(
        pool=portuguese, follower_geos=["US", "CA"], followers=200_000
    )
    lease_request = LeaseRequestFactory(
        project=partner.project, vertical="coffee", language="en", geo=["US", "CA"]
    )

    candidates = allocation_candidates(lease_request, limit=10)

    assert [c.account.pk for c in candidates] == [
        best.pk,
        one_geo.pk,
        wrong_language.pk,
        no_geo.pk,
    ]
    top = candidates[0]
    assert (top.language_points, top.geo_points, top.follower_points) == (25, 40, 10)
    assert top.score == 75
    assert top.geo_matches == ("CA", "US")
    assert top.pool.name == "Coffee EN" and "pool tagged coffee" in top.reason
    assert "language en-US (asked en) +25" in top.reason
    assert "followers in CA, US (2 of 2 asked) +40" in top.reason
    assert "50,000 followers +10" in top.reason
    assert candidates[1].geo_points == 20 and candidates[1].follower_points == 20
    assert candidates[2].language_points == 0
    assert "no followers in CA, US +0" in candidates[3].reason


def test_candidates_are_limited_and_read_in_a_few_queries(partner, django_assert_max_num_queries):
    pool = PoolFactory(tags=["coffee"])
    for _ in range(12):
        SocialAccountFactory(pool=pool)
    lease_request = LeaseRequestFactory(project=partner.project, geo=["US", "GB", "CA"])

    # The pools, one per class that can still reach the top 5 (3, 2, 1 or 0 of the 3
    # countries), the winners: bounded by the classes, not by the accounts.
    with django_assert_max_num_queries(6):
        candidates = allocation_candidates(lease_request, limit=5)

    assert len(candidates) == 5
    assert [c.account.followers for c in candidates] == sorted(
        (c.account.followers for c in candidates), reverse=True
    )


def test_no_pool_for_the_vertical_means_no_candidates(partner):
    PoolFactory(tags=["fitness"])
    lease_request = LeaseRequestFactory(project=partner.project, vertical="knitting")

    assert allocation_candidates(lease_request) == []
    assert ready_supply_count(lease_request) == 0


@pytest.mark.parametrize(
    ("pool", "asked", "points"),
    [("en", "en", 40), ("EN", "en", 40), ("en-GB", "en", 25), ("de", "en", 0), ("", "en", 0)],
)
def test_language_points(pool, asked, points):
    assert language_points(pool, asked)[0] == points


def test_no_language_or_geo_asked_scores_those_fully(partner):
    pool = PoolFactory(tags=["coffee"], language="de")
    SocialAccountFactory(pool=pool, followers=0, follower_geos=[])
    lease_request = LeaseRequestFactory(project=partner.project, language="", geo=[])

    (candidate,) = allocation_candidates(lease_request)

    assert candidate.score == 80  # 40 language + 40 geo + 0 followers
    assert "no language asked" in candidate.reason and "no geo asked" in candidate.reason


def test_pick_best_assigns_and_charges_the_top_ranked(partner, ops):
    pool = PoolFactory(tags=["coffee"])
    accounts = [SocialAccountFactory(pool=pool, followers=10_000 * (i + 1)) for i in range(5)]
    lease_request = LeaseRequestFactory(project=partner.project, count=5)
    before = wallet_balance_cents(organization_id=partner.organization.pk)

    allocation = allocation_pick_best(lease_request=lease_request, count=3, actor=ops)

    assert sorted(allocation.account_ids) == sorted(a.pk for a in accounts[2:])
    assert allocation.charged_cents == 3 * PRICE
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before - 3 * PRICE
    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.REQUESTED


def test_pick_best_refuses_more_than_still_needed(partner, ops):
    pool = PoolFactory(tags=["coffee"])
    for _ in range(4):
        SocialAccountFactory(pool=pool)
    lease_request = LeaseRequestFactory(project=partner.project, count=3)

    with pytest.raises(LeasingError, match="needs 3 more"):
        allocation_pick_best(lease_request=lease_request, count=4, actor=ops)
    assert not Lease.objects.exists()


def test_pick_best_with_too_few_free_accounts_assigns_nothing(partner, ops):
    pool = PoolFactory(tags=["coffee"])
    SocialAccountFactory(pool=pool)
    lease_request = LeaseRequestFactory(project=partner.project, count=3)

    with pytest.raises(AccountsUnavailable, match="Only 1 ready"):
        allocation_pick_best(lease_request=lease_request, count=2, actor=ops)
    assert not Lease.objects.exists()


def test_pick_best_still_assigns_when_a_ranked_winner_is_taken_before_it_locks(
    partner, ops, monkeypatch
):
    """The ranking reads unlocked; another allocation taking its best account before this
    one locks it shrinks the ranked list. The next best free accounts fill the gap."""
    from leasing import ranking

    pool = PoolFactory(tags=["coffee"])
    accounts = [SocialAccountFactory(pool=pool, followers=10_000 * (i + 1)) for i in range(6)]
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    real_top_accounts = ranking.top_accounts

    def best_one_taken_meanwhile(*args, **kwargs):
        top = real_top_accounts(*args, **kwargs)
        taken = top[0]
        SocialAccount.objects.filter(pk=taken.pk).update(state=AccountState.LEASED)
        return top[1:]  # as its final read of the winners, filtered on ready, answers

    monkeypatch.setattr(ranking, "top_accounts", best_one_taken_meanwhile)

    allocation = allocation_pick_best(lease_request=lease_request, count=3, actor=ops)

    assert sorted(allocation.account_ids) == sorted(a.pk for a in accounts[2:5])  # 2nd-4th best


def test_pick_best_on_a_closed_request_is_refused(partner, ops):
    lease_request = LeaseRequestFactory(project=partner.project, status=RequestStatus.REJECTED)

    with pytest.raises(RequestClosed):
        allocation_pick_best(lease_request=lease_request, count=1, actor=ops)


def test_pick_best_beyond_the_wallet_says_how_many_it_covers(ops):
    from tests.conftest import make_partner

    poor = make_partner(wallet_cents=2 * PRICE)
    pool = PoolFactory(tags=["coffee"])
    for _ in range(3):
        SocialAccountFactory(pool=pool)
    lease_request = LeaseRequestFactory(project=poor.project, count=3)

    with pytest.raises(WalletShort) as short:
        allocation_pick_best(lease_request=lease_request, count=3, actor=ops)
    assert short.value.covers == 2
    assert not Lease.objects.exists()


@pytest.mark.parametrize("seed", range(6))
def test_reading_classes_in_followers_order_gives_exactly_the_full_ranking(partner, seed):
    import random

    from leasing.ranking import fitting_pools, ranked_accounts, top_accounts

    rng = random.Random(seed)
    pools = [
        PoolFactory(tags=["coffee"], language=rng.choice(["en", "en-GB", "de"])) for _ in range(3)
    ]
    geos = [[], ["US"], ["CA"], ["US", "CA"], ["GB", "US"], ["DE"]]
    for _ in range(150):
        SocialAccountFactory(
            pool=rng.choice(pools),
            followers=rng.choice([0, 4_999, 5_000, 60_000, 150_000, rng.randrange(200_000)]),
            follower_geos=rng.choice(geos),
        )
    lease_request = LeaseRequestFactory(
        project=partner.project,
        language="en",
        geo=rng.choice([["US"], ["US", "CA"], [], ["US", "CA", "GB"]]),
    )
    fitting = fitting_pools(lease_request)

    for limit in (1, 7, 25):
        full = [a.pk for a in ranked_accounts(lease_request, fitting)[:limit]]
        fast = [a.pk for a in top_accounts(lease_request, fitting, limit)]
        assert fast == full
