"""Lease charges: once per lease and period, balanced, and never below zero."""

import pytest
from django.db import IntegrityError, transaction

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import ledger_verify, wallet_balance_cents
from billing.services.charges import LeaseCharge, lease_charge, lease_charges_post, renewal_charge
from billing.services.errors import AlreadyReversed, BillingError, InsufficientFunds
from billing.services.movements import wallet_fund
from billing.services.reversals import transaction_reverse
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def org():
    organization = OrganizationFactory()
    wallet_fund(organization=organization, amount_cents=50_000)
    return organization


def balance(org):
    return wallet_balance_cents(organization_id=org.pk)


def test_a_period_is_charged_once_however_often_asked(org):
    first = renewal_charge(organization_id=org.pk, lease_id=7, period=2, amount_cents=15_000)
    again = renewal_charge(organization_id=org.pk, lease_id=7, period=2, amount_cents=15_000)

    assert first.pk == again.pk
    assert first.kind == TransactionKind.RENEWAL
    assert balance(org) == 35_000
    assert not ledger_verify()


def test_the_database_refuses_a_second_charge_for_a_period(org):
    lease_charge(organization_id=org.pk, lease_id=8, amount_cents=15_000)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerTransaction.objects.create(
            kind=TransactionKind.CHARGE, actor_label="system", lease_id=8, period=0
        )


def test_batch_without_all_or_nothing_pays_in_order_and_returns_the_rest(org):
    charges = [
        LeaseCharge(organization_id=org.pk, lease_id=i, period=1, amount_cents=15_000)
        for i in range(1, 5)
    ]

    outcome = lease_charges_post(charges=charges, all_or_nothing=False)

    assert sorted(lease for lease, _ in outcome.posted) == [1, 2, 3]
    assert [c.lease_id for c in outcome.unpaid] == [4]
    assert balance(org) == 5_000
    assert not ledger_verify()


def test_batch_all_or_nothing_refuses_and_states_the_shortfall(org):
    charges = [
        LeaseCharge(organization_id=org.pk, lease_id=i, period=0, amount_cents=15_000)
        for i in range(1, 5)
    ]

    with pytest.raises(InsufficientFunds) as short:
        lease_charges_post(charges=charges)

    assert short.value.shortfall_cents == 10_000
    assert balance(org) == 50_000


def test_reversing_a_charge_refunds_the_wallet_once(org):
    finance = UserFactory(username="fin")
    charge = lease_charge(organization_id=org.pk, lease_id=9, amount_cents=15_000)

    refund = transaction_reverse(original=charge, actor=finance, memo="Account banned day 2")

    assert refund.reverses == charge
    assert refund.kind == TransactionKind.REVERSAL
    assert balance(org) == 50_000
    with pytest.raises(AlreadyReversed):
        transaction_reverse(original=charge, actor=finance, memo="again")
    with pytest.raises(BillingError):
        transaction_reverse(original=refund, actor=finance, memo="undo the undo")
    assert not ledger_verify()


def test_reversing_a_top_up_cannot_overdraw(org):
    top_up = LedgerTransaction.objects.get(kind=TransactionKind.FUNDING)
    lease_charge(organization_id=org.pk, lease_id=10, amount_cents=15_000)

    with pytest.raises(InsufficientFunds):
        transaction_reverse(original=top_up, actor=None, memo="bounced wire")
