"""The database, not only Python, keeps the ledger append-only and balanced, including
after migration 0005 added and backfilled the entries' public ids."""

import pytest
from django.db import IntegrityError, InternalError, transaction

from billing.models import LedgerEntry, LedgerTransaction
from billing.selectors import ledger_verify
from billing.services.movements import wallet_fund
from billing.services.postings import wallet_get_or_create
from tests.factories import OrganizationFactory


@pytest.mark.django_db
def test_an_entry_public_id_cannot_be_rewritten():
    wallet_fund(organization=OrganizationFactory(), amount_cents=1_000)

    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.update(public_id="le_guess")
    assert not LedgerEntry.objects.filter(public_id="le_guess").exists()


@pytest.mark.django_db
def test_postgres_refuses_deleting_ledger_transactions():
    wallet_fund(organization=OrganizationFactory(), amount_cents=1_000)

    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        LedgerTransaction.objects.all().delete()
    assert LedgerTransaction.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_postgres_refuses_an_unbalanced_transaction_at_the_real_commit():
    wallet = wallet_get_or_create(organization=OrganizationFactory())

    with pytest.raises(IntegrityError), transaction.atomic():
        txn = LedgerTransaction.objects.create(kind="funding", actor_label="system")
        LedgerEntry.objects.create(
            transaction=txn, account=wallet, amount_cents=500, balance_after_cents=500
        )

    assert not LedgerTransaction.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert ledger_verify() == []
