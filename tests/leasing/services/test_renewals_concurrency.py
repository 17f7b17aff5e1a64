"""Renewal runs on PostgreSQL with real threads: the database, not luck, keeps each
(lease, period) charged once and a short wallet paying its oldest leases first."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Count

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import ledger_verify, wallet_balance_cents
from leasing.models import BillingStatus, Lease
from leasing.services import renewals
from leasing.services.renewals import leases_renew
from tests.conftest import make_partner
from tests.factories import LeaseFactory, LeaseRequestFactory
from tests.test_concurrency import fire

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = 15_000
START = datetime(2026, 1, 10, tzinfo=UTC)
AT = datetime(2026, 2, 12, tzinfo=UTC)


def leases_for(partner, n):
    hours = list(range(n))
    random.Random(n).shuffle(hours)  # rows created out of age order
    return [
        LeaseFactory(
            lease_request=LeaseRequestFactory(project=partner.project, count=1),
            assigned_at=START + timedelta(hours=h),
        )
        for h in hours
    ]


def oldest_first(leases):
    return sorted(leases, key=lambda lease: (lease.assigned_at, lease.pk))


def test_concurrent_runs_charge_each_period_once_and_short_wallets_pay_oldest_first():
    rich, short, other = (
        make_partner(wallet_cents=100 * PRICE),
        make_partner(wallet_cents=7 * PRICE + 50),
        make_partner(wallet_cents=100 * PRICE),
    )
    leases = {p.organization.pk: leases_for(p, 20) for p in (rich, short, other)}

    summaries = fire(4, lambda i: leases_renew(at=AT, batch_size=3))

    charged = (
        LedgerTransaction.objects.filter(kind=TransactionKind.RENEWAL)
        .values("lease_id", "period")
        .annotate(n=Count("id"))
    )
    assert {row["n"] for row in charged} == {1}
    assert len(charged) == 47
    assert sum(s.periods_charged for s in summaries) == 47
    assert sum(s.renewed for s in summaries) == 47
    paid = set(Lease.objects.filter(periods_paid=2).values_list("pk", flat=True))
    short_leases = oldest_first(leases[short.organization.pk])
    assert [lease.pk in paid for lease in short_leases] == [True] * 7 + [False] * 13
    assert set(
        Lease.objects.filter(billing_status=BillingStatus.PAST_DUE).values_list("pk", flat=True)
    ) == {lease.pk for lease in short_leases[7:]}
    assert wallet_balance_cents(organization_id=short.organization.pk) == 50
    assert ledger_verify() == []


def test_a_failure_between_the_charge_and_the_lease_save_leaves_neither(monkeypatch):
    partner = make_partner(wallet_cents=10 * PRICE)
    leases = leases_for(partner, 3)

    def crash(*args, **kwargs):
        raise RuntimeError("worker died after charging")

    monkeypatch.setattr(renewals, "_renewals_save", crash)
    with pytest.raises(RuntimeError):
        leases_renew(at=AT)

    assert not LedgerTransaction.objects.filter(kind=TransactionKind.RENEWAL).exists()
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 10 * PRICE
    for lease in leases:
        stored = Lease.objects.get(pk=lease.pk)
        assert (stored.periods_paid, stored.next_renewal_at, stored.billing_status) == (
            1,
            lease.next_renewal_at,
            BillingStatus.CURRENT,
        )
    monkeypatch.undo()
    assert leases_renew(at=AT).renewed == 3  # the next run renews them, once
    assert ledger_verify() == []
