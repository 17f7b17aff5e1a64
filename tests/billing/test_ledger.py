import io

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction, Wallet
from billing.selectors import ledger_verify, wallet_balance_cents
from billing.services.errors import BillingError, InsufficientFunds
from billing.services.movements import wallet_adjust, wallet_fund
from billing.services.postings import wallet_get_or_create
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_funding_is_one_balanced_transaction():
    org = OrganizationFactory()

    txn = wallet_fund(organization=org, amount_cents=45_000, memo="Wire 2026-11")

    legs = sorted(txn.entries.values_list("account__kind", "amount_cents"))
    assert legs == [(AccountKind.FUNDING, -45_000), (AccountKind.WALLET, 45_000)]
    assert txn.actor_label == "system" and txn.memo == "Wire 2026-11"
    assert wallet_balance_cents(organization_id=org.pk) == 45_000


def test_entries_record_the_balance_after_each_movement():
    org = OrganizationFactory()
    finance = UserFactory(username="fin")
    wallet_fund(organization=org, amount_cents=30_000)
    wallet_adjust(organization=org, amount_cents=-5_000, actor=finance, memo="Refund goodwill")

    wallet = Wallet.objects.get(organization=org)
    history = list(wallet.entries.order_by("pk").values_list("amount_cents", "balance_after_cents"))

    assert history == [(30_000, 30_000), (-5_000, 25_000)]
    assert LedgerTransaction.objects.get(kind="adjustment").actor_label == "fin"


def test_a_wallet_cannot_be_overdrawn():
    org = OrganizationFactory()
    wallet_fund(organization=org, amount_cents=10_000)

    with pytest.raises(InsufficientFunds) as refused:
        wallet_adjust(organization=org, amount_cents=-10_001, actor=UserFactory(), memo="x")

    assert refused.value.balance_cents == 10_000
    assert wallet_balance_cents(organization_id=org.pk) == 10_000
    assert LedgerTransaction.objects.filter(kind="adjustment").count() == 0


@pytest.mark.parametrize("amount", [0, -1])
def test_funding_must_be_positive(amount):
    with pytest.raises(BillingError):
        wallet_fund(organization=OrganizationFactory(), amount_cents=amount)


def test_adjustment_needs_a_reason():
    with pytest.raises(BillingError):
        wallet_adjust(
            organization=OrganizationFactory(), amount_cents=100, actor=UserFactory(), memo=" "
        )


def test_database_refuses_a_negative_wallet_balance():
    wallet = wallet_get_or_create(organization=OrganizationFactory())

    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.filter(pk=wallet.pk).update(balance_cents=-1)


def test_database_refuses_a_second_wallet_for_an_org():
    org = OrganizationFactory()
    wallet_get_or_create(organization=org)

    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.create(kind=AccountKind.WALLET, organization=org)


def test_database_refuses_updating_ledger_entries():
    wallet_fund(organization=OrganizationFactory(), amount_cents=1_000)

    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.update(amount_cents=2_000)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerTransaction.objects.update(memo="rewritten")


def test_postgres_refuses_deleting_ledger_rows():
    from django.db import InternalError

    wallet_fund(organization=OrganizationFactory(), amount_cents=1_000)

    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        LedgerEntry.objects.all().delete()
    assert LedgerEntry.objects.count() == 2


def test_postgres_refuses_an_unbalanced_transaction_at_commit():
    wallet = wallet_get_or_create(organization=OrganizationFactory())

    with pytest.raises(IntegrityError), transaction.atomic():
        txn = LedgerTransaction.objects.create(kind="funding", actor_label="system")
        LedgerEntry.objects.create(
            transaction=txn, account=wallet, amount_cents=500, balance_after_cents=500
        )
        with connection.cursor() as cursor:  # what COMMIT would run
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert not LedgerEntry.objects.exists()


def test_verify_ledger_command_passes_on_a_consistent_ledger():
    wallet_fund(organization=OrganizationFactory(), amount_cents=9_900)
    out = io.StringIO()

    call_command("verify_ledger", stdout=out)

    assert "Ledger OK" in out.getvalue()


def test_verify_ledger_command_reports_a_tampered_balance():
    org = OrganizationFactory()
    wallet_fund(organization=org, amount_cents=9_900)
    LedgerAccount.objects.filter(organization=org).update(balance_cents=99_000)

    err = io.StringIO()

    with pytest.raises(CommandError, match=r"1 problem.*balance matches entries"):
        call_command("verify_ledger", stdout=io.StringIO(), stderr=err)

    assert "stored balance $990.00, its entries sum to $99.00" in err.getvalue()


movements = st.lists(
    st.one_of(
        st.tuples(st.just("fund"), st.integers(min_value=1, max_value=10_000_000)),
        st.tuples(st.just("adjust"), st.integers(min_value=-10_000_000, max_value=10_000_000)),
    ),
    max_size=25,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(moves=movements)
def test_any_sequence_of_movements_keeps_the_ledger_whole(moves):
    org = OrganizationFactory()
    actor = UserFactory(username="finance-prop")
    expected = 0
    for kind, amount in moves:
        try:
            if kind == "fund":
                wallet_fund(organization=org, amount_cents=amount)
            else:
                wallet_adjust(organization=org, amount_cents=amount, actor=actor, memo="prop")
        except BillingError:
            assert amount == 0 or expected + amount < 0
            continue
        expected += amount

    assert wallet_balance_cents(organization_id=org.pk) == expected >= 0
    assert ledger_verify() == []
    for txn in LedgerTransaction.objects.prefetch_related("entries"):
        assert sum(e.amount_cents for e in txn.entries.all()) == 0
