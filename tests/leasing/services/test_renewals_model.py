"""A stateful property: top-ups, allocations, renewals at moving times, reversals and
adjustments, in any order, keep the wallet equal to a simple model of it and the ledger
whole, each (lease, period) charged once and each lease paid through its period."""

from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db.models import Sum
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from billing.models import (
    LEASE_CHARGE_KINDS,
    UNDOING_KINDS,
    AccountKind,
    LedgerEntry,
    LedgerTransaction,
)
from billing.selectors import ledger_verify, wallet_balance_cents
from billing.services.errors import InsufficientFunds
from billing.services.movements import wallet_adjust, wallet_fund
from billing.services.reversals import transaction_reverse
from leasing.models import BillingStatus, Lease, LeaseStatus
from leasing.periods import period_start, periods_due
from leasing.services.allocation import WalletShort, allocation_assign
from leasing.services.renewals import leases_renew
from tests.conftest import make_partner
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory

PRICES = [5_000, 15_000]
# Renewals go past due and disconnect by the real clock, so the model's clock runs in the
# past, towards now: it starts far enough back for every step to be a renewal 45 days on.
STARTS_AGO = timedelta(days=5 * 365)


@dataclass
class ModelLease:
    pk: int
    assigned_at: datetime
    price: int
    periods_paid: int = 1
    past_due_since: datetime | None = None
    disconnected: bool = False


class WalletMachine(RuleBasedStateMachine):
    """The model: a balance, and per lease the periods paid and whether it is past due."""

    def __init__(self):
        super().__init__()
        self.partner = make_partner(wallet_cents=0)
        self.organization = self.partner.organization
        self.pool = PoolFactory(tags=["coffee"])
        self.staff = UserFactory()
        self.balance = 0
        self.clock = timezone.now() - STARTS_AGO
        self.leases: dict[int, ModelLease] = {}

    @initialize(
        cents=st.integers(min_value=15_000, max_value=60_000),
        count=st.integers(min_value=1, max_value=3),
        price=st.sampled_from(PRICES),
    )
    def a_funded_partner_with_leases(self, cents, count, price):
        self.top_up(cents)
        self.allocate(count, price)

    # Money in and out ----------------------------------------------------------------

    @rule(cents=st.one_of(st.sampled_from(PRICES), st.integers(min_value=1, max_value=40_000)))
    def top_up(self, cents):
        wallet_fund(organization=self.organization, amount_cents=cents, memo="model top-up")
        self.balance += cents

    @rule(cents=st.integers(min_value=-40_000, max_value=40_000).filter(bool))
    def adjust(self, cents):
        try:
            wallet_adjust(
                organization=self.organization, amount_cents=cents, actor=self.staff, memo="model"
            )
        except InsufficientFunds:
            assert self.balance + cents < 0
            return
        self.balance += cents

    @rule(data=st.data())
    def reverse(self, data):
        candidates = list(
            LedgerTransaction.objects.filter(
                entries__account__organization=self.organization, reversed_by__isnull=True
            )
            .exclude(kind__in=UNDOING_KINDS)
            .order_by("created_at", "pk")
        )
        if not candidates:
            return
        original = data.draw(st.sampled_from(candidates))
        wallet_leg = original.entries.get(account__kind=AccountKind.WALLET).amount_cents
        try:
            transaction_reverse(original=original, actor=self.staff, memo="model reversal")
        except InsufficientFunds:
            assert self.balance - wallet_leg < 0
            return
        self.balance -= wallet_leg  # a reversed charge is a refund; the period stays paid

    # Leases ---------------------------------------------------------------------------

    @rule(count=st.integers(min_value=1, max_value=3), price=st.sampled_from(PRICES))
    def allocate(self, count, price):
        lease_request = LeaseRequestFactory(project=self.partner.project, count=count)
        accounts = [SocialAccountFactory(pool=self.pool) for _ in range(count)]
        with override_settings(LEASE_PRICE_CENTS=price):
            try:
                allocation = allocation_assign(
                    lease_request=lease_request, accounts=accounts, actor=self.staff
                )
            except WalletShort:
                assert self.balance < count * price
                return
        self.balance -= count * price
        # Assigned at the model's clock, as if allocated then.
        Lease.objects.filter(pk__in=[lease.pk for lease in allocation.leases]).update(
            assigned_at=self.clock, next_renewal_at=period_start(self.clock, 1)
        )
        for lease in allocation.leases:
            self.leases[lease.pk] = ModelLease(lease.pk, self.clock, price)

    @rule(
        # Hours to days (retries within and just past the grace period) or whole months.
        hours=st.one_of(st.integers(1, 5 * 24), st.integers(1, 45 * 24)),
        batch_size=st.sampled_from([1, 2, 50]),
    )
    def renew(self, hours, batch_size):
        self.clock += timedelta(hours=hours)
        leases_renew(at=self.clock, batch_size=batch_size)
        self._model_renew(self.clock)
        for lease in Lease.objects.filter(pk__in=self.leases, status=LeaseStatus.ASSIGNED):
            if lease.billing_status == BillingStatus.CURRENT:  # paid through this period
                assert lease.next_renewal_at > self.clock
                assert lease.periods_paid == periods_due(lease.assigned_at, self.clock)

    def _model_renew(self, at):
        grace = timedelta(days=django_settings.RENEWAL_GRACE_DAYS)
        running = [lease for lease in self.leases.values() if not lease.disconnected]
        for lease in sorted(running, key=lambda lease: (lease.assigned_at, lease.pk)):
            owed = periods_due(lease.assigned_at, at) - lease.periods_paid
            if owed <= 0:
                continue
            paid = 0
            while paid < owed and self.balance >= lease.price:
                self.balance -= lease.price
                paid += 1
            lease.periods_paid += paid
            if paid == owed:
                lease.past_due_since = None
                continue
            lease.past_due_since = lease.past_due_since or at
            event("a lease is past due")
            if at >= lease.past_due_since + grace:
                event("a lease is disconnected")
                lease.disconnected = True

    # Invariants -----------------------------------------------------------------------

    @invariant()
    def wallet_equals_the_model_and_its_entries(self):
        stored = wallet_balance_cents(organization_id=self.organization.pk)
        entries = LedgerEntry.objects.filter(
            account__kind=AccountKind.WALLET, account__organization=self.organization
        ).aggregate(total=Sum("amount_cents"))["total"]
        assert stored == self.balance == (entries or 0)
        assert stored >= 0

    @invariant()
    def the_ledger_verifies(self):
        assert ledger_verify() == []

    @precondition(lambda self: self.leases)
    @invariant()
    def each_period_is_charged_once_and_leases_match_the_model(self):
        charged = sorted(
            LedgerTransaction.objects.filter(
                kind__in=LEASE_CHARGE_KINDS, lease_id__in=self.leases
            ).values_list("lease_id", "period")
        )
        expected = sorted(
            (lease.pk, period)
            for lease in self.leases.values()
            for period in range(lease.periods_paid)
        )
        assert charged == expected
        for stored in Lease.objects.filter(pk__in=self.leases):
            model = self.leases[stored.pk]
            assert stored.periods_paid == model.periods_paid
            assert stored.past_due_since == model.past_due_since
            assert (stored.billing_status == BillingStatus.PAST_DUE) == (
                model.past_due_since is not None
            )
            assert (stored.status == LeaseStatus.DISCONNECTED) == model.disconnected
            if not model.disconnected:
                assert stored.next_renewal_at == period_start(model.assigned_at, model.periods_paid)


@pytest.mark.django_db
def test_wallets_leases_and_renewals_keep_every_invariant():
    run_state_machine_as_test(
        WalletMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
