"""Real threads on PostgreSQL: two submits of one rendering of a form, at the same moment,
make exactly one change; the other is told it was already done."""

import pytest
from django.conf import settings

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import ledger_verify, wallet_balance_cents
from billing.services.movements import wallet_fund
from billing.services.reversals import top_up_void
from layers_ops.staff.once import AlreadyDone, once_mint
from leasing.models import Lease, NoteVisibility, RequestNote
from leasing.services.allocation import allocation_pick_best
from leasing.services.requests import request_note_add
from tests.conftest import make_partner
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory
from tests.test_concurrency import fire

pytestmark = pytest.mark.django_db(transaction=True)

PRICE = settings.LEASE_PRICE_CENTS


def attempt(call):
    try:
        return call()
    except AlreadyDone as exc:
        return exc


def test_assign_best_n_sent_twice_at_once_assigns_one_account_and_charges_150():
    partner = make_partner()
    ops = UserFactory(username="maria")
    pool = PoolFactory(tags=["coffee"])
    for _ in range(6):
        SocialAccountFactory(pool=pool)
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    token = once_mint(user=ops)

    results = fire(
        2,
        lambda i: attempt(
            lambda: allocation_pick_best(
                lease_request=lease_request, count=1, actor=ops, expect_assigned=0, once=token
            )
        ),
    )

    repeated = [r for r in results if isinstance(r, AlreadyDone)]
    assert len(repeated) == 1
    assert "Already done: 1 account assigned" in str(repeated[0])
    assert Lease.objects.filter(lease_request=lease_request).count() == 1
    assert LedgerTransaction.objects.filter(kind=TransactionKind.CHARGE).count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 - PRICE
    assert ledger_verify() == []


def test_a_note_saved_four_times_at_once_is_written_once():
    partner = make_partner()
    ops = UserFactory(username="maria")
    lease_request = LeaseRequestFactory(project=partner.project)
    token = once_mint(user=ops)

    results = fire(
        4,
        lambda i: attempt(
            lambda: request_note_add(
                lease_request=lease_request,
                body="Two accounts this week.",
                visibility=NoteVisibility.PARTNER,
                author=ops,
                once=token,
                once_part="note:0",
            )
        ),
    )

    assert sum(isinstance(r, AlreadyDone) for r in results) == 3
    assert RequestNote.objects.filter(lease_request=lease_request).count() == 1


def test_a_top_up_sent_three_times_at_once_is_recorded_once():
    partner = make_partner()
    finance = UserFactory(username="fin")
    token = once_mint(user=finance)

    results = fire(
        3,
        lambda i: attempt(
            lambda: wallet_fund(
                organization=partner.organization,
                amount_cents=25_000,
                actor=finance,
                memo="Wire 4471",
                once=token,
            )
        ),
    )

    assert sum(isinstance(r, AlreadyDone) for r in results) == 2
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 + 25_000
    assert ledger_verify() == []


def test_a_void_sent_three_times_at_once_voids_once():
    partner = make_partner()
    finance = UserFactory(username="fin")
    top_up = LedgerTransaction.objects.get(
        kind=TransactionKind.FUNDING, entries__account__organization=partner.organization
    )
    token = once_mint(user=finance)

    results = fire(
        3,
        lambda i: attempt(
            lambda: top_up_void(top_up=top_up, actor=finance, memo="Wrong wallet", once=token)
        ),
    )

    assert sum(isinstance(r, AlreadyDone) for r in results) == 2
    assert LedgerTransaction.objects.filter(reverses=top_up).count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 0
    assert ledger_verify() == []
