"""Real threads on PostgreSQL: allocations racing for the same accounts, request and wallet."""

import pytest
from django.conf import settings

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import ledger_verify, wallet_balance_cents
from leasing.models import AccountState, Lease, SocialAccount
from leasing.services.allocation import allocation_assign, allocation_pick_best
from leasing.services.errors import LeasingError
from tests.conftest import make_partner
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory
from tests.test_concurrency import fire

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = settings.LEASE_PRICE_CENTS


def attempt(call):
    try:
        return call()
    except LeasingError as exc:
        return exc


def test_twenty_allocations_racing_for_ten_accounts_lease_each_once():
    partner = make_partner()
    pool = PoolFactory(tags=["coffee"])
    for i in range(10):
        SocialAccountFactory(pool=pool, followers=1_000 * i)
    requests = [LeaseRequestFactory(project=partner.project, count=1) for _ in range(20)]

    results = fire(
        20,
        lambda i: attempt(
            lambda: allocation_pick_best(lease_request=requests[i], count=1, actor=None)
        ),
    )

    assert sum(1 for r in results if not isinstance(r, Exception)) == 10
    leased = list(Lease.objects.values_list("social_account_id", flat=True))
    assert len(leased) == 10 and len(set(leased)) == 10
    assert SocialAccount.objects.filter(state=AccountState.READY).count() == 0
    charges = LedgerTransaction.objects.filter(kind=TransactionKind.CHARGE).count()
    assert charges == 10
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 - 10 * PRICE
    assert ledger_verify() == []


def test_manual_choices_of_the_same_accounts_race_and_one_wins():
    partner = make_partner()
    pool = PoolFactory(tags=["coffee"])
    accounts = [SocialAccountFactory(pool=pool) for _ in range(3)]
    requests = [LeaseRequestFactory(project=partner.project, count=3) for _ in range(8)]

    results = fire(
        8,
        lambda i: attempt(
            lambda: allocation_assign(lease_request=requests[i], accounts=accounts, actor=None)
        ),
    )

    assert sum(1 for r in results if not isinstance(r, Exception)) == 1
    assert Lease.objects.count() == 3


def test_two_people_allocating_one_request_never_exceed_its_count():
    partner = make_partner()
    pool = PoolFactory(tags=["coffee"])
    for _ in range(12):
        SocialAccountFactory(pool=pool)
    lease_request = LeaseRequestFactory(project=partner.project, count=5)

    results = fire(
        6,
        lambda i: attempt(
            lambda: allocation_pick_best(lease_request=lease_request, count=2 + i % 2, actor=None)
        ),
    )

    assert Lease.objects.filter(lease_request=lease_request).count() <= 5
    assert sum(len(r.leases) for r in results if not isinstance(r, Exception)) == (
        Lease.objects.count()
    )
    lease_request.refresh_from_db()
    assert Lease.objects.count() in (4, 5)  # 2+2, 2+3 or 3+2: then nothing more fits


def test_a_wallet_covering_two_accounts_pays_for_exactly_two_of_ten_racing():
    partner = make_partner(wallet_cents=2 * PRICE)
    pool = PoolFactory(tags=["coffee"])
    for _ in range(10):
        SocialAccountFactory(pool=pool)
    requests = [LeaseRequestFactory(project=partner.project, count=1) for _ in range(10)]

    results = fire(
        10,
        lambda i: attempt(
            lambda: allocation_pick_best(lease_request=requests[i], count=1, actor=None)
        ),
    )

    assert sum(1 for r in results if not isinstance(r, Exception)) == 2
    assert Lease.objects.count() == 2
    assert LedgerTransaction.objects.filter(kind=TransactionKind.CHARGE).count() == 2
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 0
    assert SocialAccount.objects.filter(state=AccountState.LEASED).count() == 2
    assert ledger_verify() == []


def test_many_best_n_allocations_at_once_are_never_refused_while_accounts_are_free():
    """Rounds of 40 requests for 3 accounts each, allocated at once, with plenty of fitting
    ready accounts: every one is served, no account is leased twice, and what is leased is
    exactly the best ranked (no allocation passed over a free account for a worse one)."""
    from leasing.ranking import fitting_pools, ranked_accounts

    rounds, per_round = 3, 40
    partner = make_partner(wallet_cents=rounds * per_round * 3 * PRICE)
    geos = ["US", "GB", "CA"]
    pools = [
        PoolFactory(tags=["coffee"], language=language, geos=geos)
        for language in ("en", "en-GB", "en-US")  # all fit "en": this is about contention
    ]
    for i in range(rounds * per_round * 3 + 100):
        SocialAccountFactory(
            pool=pools[i % 3],
            followers=(i * 7_919) % 120_000,
            follower_geos=geos[: 1 + i % 3],
        )

    for _ in range(rounds):
        requests = [
            LeaseRequestFactory(project=partner.project, count=3, geo=geos)
            for _ in range(per_round)
        ]
        ready = ranked_accounts(requests[0], fitting_pools(requests[0]))
        best = set(ready.values_list("pk", flat=True)[: per_round * 3])

        results = fire(
            per_round,
            lambda i, requests=requests: attempt(
                lambda: allocation_pick_best(lease_request=requests[i], count=3, actor=None)
            ),
        )

        assert [str(r) for r in results if isinstance(r, Exception)] == []
        leased = set(
            Lease.objects.filter(lease_request__in=requests).values_list(
                "social_account_id", flat=True
            )
        )
        assert leased == best
    pairs = list(Lease.objects.values_list("social_account_id", flat=True))
    assert len(pairs) == len(set(pairs)) == rounds * per_round * 3
    assert SocialAccount.objects.filter(state=AccountState.READY).count() == 100
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 0
    assert ledger_verify() == []
