"""Reconciliation finds each kind of broken book, on the page and in verify_ledger."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from billing.models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction
from billing.reconciliation import (
    BALANCES,
    CHARGED_TWICE,
    UNBALANCED,
    check_names,
    reconcile,
)
from billing.services.charges import lease_charge
from billing.services.movements import wallet_fund
from leasing.models import BillingStatus, Lease
from leasing.roles import FINANCE
from leasing.selectors import LEASE_PERIODS_CHARGED
from tests.billing.helpers import lease_accounts, staff_in
from tests.factories import LeaseFactory, LeaseRequestFactory

pytestmark = pytest.mark.django_db

RECONCILIATION = reverse("admin:billing_wallet_reconciliation")


def checks_failing():
    return sorted({problem.check for problem in reconcile()})


def verify_ledger():
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_ledger", stdout=out, stderr=err)
    except CommandError as failed:
        return False, str(failed), err.getvalue()
    return True, out.getvalue(), err.getvalue()


def drop_charge_once_guards():
    """Tamper: lift the unique guards on lease charges, inside the test's transaction
    (rolled back with it; DDL is transactional on PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX one_charge_per_lease_period")


def lift_ledger_triggers():
    """Tamper: fire the pending deferred checks now, then switch off the ledger's guard
    triggers for the rest of the test's transaction (rolled back with it)."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE billing_ledgerentry DISABLE TRIGGER USER")


def test_leasing_contributes_its_check():
    assert check_names() == [BALANCES, UNBALANCED, CHARGED_TWICE, LEASE_PERIODS_CHARGED]


def test_real_activity_leaves_nothing_to_reconcile(client, partner):
    lease_accounts(partner, count=3)
    client.force_login(staff_in(FINANCE, "fin"))

    assert reconcile() == []
    assert "the books are right" in client.get(RECONCILIATION).content.decode()
    ok, out, _ = verify_ledger()
    assert ok and "all pass" in out


def test_a_stored_balance_that_differs_from_its_entries_is_found(partner):
    LedgerAccount.objects.filter(organization=partner.organization).update(balance_cents=1)

    (problem,) = reconcile()

    assert problem.check == BALANCES
    assert "stored balance $0.01, its entries sum to $3,000.00" in problem.detail


def test_an_unbalanced_transaction_is_found(partner):
    lift_ledger_triggers()  # PostgreSQL would refuse this at commit
    txn = LedgerTransaction.objects.create(kind="adjustment", memo="tampered", actor_label="x")
    revenue, _ = LedgerAccount.objects.get_or_create(kind=AccountKind.REVENUE)
    LedgerEntry.objects.create(
        transaction=txn, account=revenue, amount_cents=500, balance_after_cents=500
    )
    empty = LedgerTransaction.objects.create(kind="adjustment", memo="no legs", actor_label="x")

    problems = [p for p in reconcile() if p.check == UNBALANCED]

    assert {p.subject: p.detail for p in problems} == {
        f"adjustment {txn.pk}": "its 1 entries sum to +$5.00, not $0.00",
        f"adjustment {empty.pk}": "has no entries",
    }


def test_a_lease_period_charged_twice_is_found(partner):
    allocation = lease_accounts(partner, count=1)
    lease = allocation.leases[0]
    drop_charge_once_guards()
    lease_charge_again = LedgerTransaction.objects.create(
        kind="renewal", lease_id=lease.pk, period=0, actor_label="x", dedupe_key="tampered"
    )
    wallet = LedgerAccount.objects.get(organization=partner.organization)
    revenue = LedgerAccount.objects.get(kind=AccountKind.REVENUE)
    LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(transaction=lease_charge_again, account=wallet, amount_cents=-1,
                        balance_after_cents=0),
            LedgerEntry(transaction=lease_charge_again, account=revenue, amount_cents=1,
                        balance_after_cents=0),
        ]
    )  # fmt: skip

    twice = [p for p in reconcile() if p.check == CHARGED_TWICE]

    assert [(p.subject, p.detail) for p in twice] == [
        (f"lease {lease.pk}", "period 0 was charged 2 times")
    ]


def test_an_active_lease_missing_a_paid_periods_charge_is_found(partner):
    allocation = lease_accounts(partner, count=2)
    paid_ahead, _ = allocation.leases
    # Tamper: the lease claims two periods paid, the ledger holds only the first.
    Lease.objects.filter(pk=paid_ahead.pk).update(periods_paid=2)

    (problem,) = reconcile()

    assert problem.check == LEASE_PERIODS_CHARGED
    assert problem.subject.startswith(f"lease {paid_ahead.pk} ")
    assert problem.detail == "period(s) 1 marked paid but never charged"


def test_a_lease_never_charged_is_found_but_past_due_and_ended_leases_are_not(partner):
    request = LeaseRequestFactory(project=partner.project, count=10)
    never = LeaseFactory(lease_request=request)
    LeaseFactory(
        lease_request=request,
        billing_status=BillingStatus.PAST_DUE,
        past_due_since=never.assigned_at,
    )
    LeaseFactory(lease_request=request, disconnected=True)
    charged = LeaseFactory(lease_request=request)
    lease_charge(organization_id=partner.organization.pk, lease_id=charged.pk, amount_cents=15_000)

    problems = [p for p in reconcile() if p.check == LEASE_PERIODS_CHARGED]

    assert [(p.subject.split(" (")[0], p.detail) for p in problems] == [
        (f"lease {never.pk}", "period(s) 0 marked paid but never charged")
    ]


def test_the_page_and_verify_ledger_name_every_broken_invariant(client, partner):
    allocation = lease_accounts(partner, count=1)
    lease = allocation.leases[0]
    Lease.objects.filter(pk=lease.pk).update(periods_paid=3)
    LedgerAccount.objects.filter(organization=partner.organization).update(balance_cents=7)
    drop_charge_once_guards()
    dup = LedgerTransaction.objects.create(
        kind="charge", lease_id=lease.pk, period=0, actor_label="x", dedupe_key="t"
    )  # no entries: also unbalanced
    client.force_login(staff_in(FINANCE, "fin"))

    page = client.get(RECONCILIATION).content.decode()
    ok, message, err = verify_ledger()

    assert not ok
    for name in check_names():
        assert name in message, name
    assert dup.pk in err and "period(s) 1, 2 marked paid but never charged" in err
    assert "4 problems found" in page
    assert "period(s) 1, 2 marked paid but never charged" in page
    assert "the books are right" not in page


@pytest.mark.django_db(transaction=True)
def test_verify_ledger_finds_a_committed_unbalanced_transaction(partner):
    """Committed for real: the guard triggers are lifted for the tampering only."""
    from django.db import transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("ALTER TABLE billing_ledgerentry DISABLE TRIGGER USER")
        txn = LedgerTransaction.objects.create(kind="adjustment", memo="t", actor_label="x")
        wallet = LedgerAccount.objects.get(organization=partner.organization)
        LedgerEntry.objects.create(
            transaction=txn, account=wallet, amount_cents=10, balance_after_cents=300_010
        )
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the foreign keys, before enabling
        cursor.execute("ALTER TABLE billing_ledgerentry ENABLE TRIGGER USER")

    ok, message, err = verify_ledger()

    assert not ok
    assert UNBALANCED in message and BALANCES in message
    assert f"adjustment {txn.pk}" in err


def test_funding_alone_reconciles():
    from tests.factories import OrganizationFactory

    wallet_fund(organization=OrganizationFactory(), amount_cents=1)

    assert reconcile() == []
