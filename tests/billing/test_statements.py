"""Monthly statements: calendar months in America/Los_Angeles, opening + movements =
closing, every figure backed by its lines."""

import csv
import io
import itertools
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing.models import LedgerTransaction, TransactionKind, Wallet
from billing.selectors import FINANCE_TZ, month_bounds, revenue_by_month, statement_for
from billing.services.charges import LeaseCharge, lease_charges_post
from billing.services.errors import InsufficientFunds
from billing.services.movements import wallet_adjust, wallet_fund
from billing.services.reversals import transaction_reverse
from leasing.roles import FINANCE
from tests.billing.helpers import staff_in
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@contextmanager
def clock(moment: datetime):
    """Rows written inside get ``moment`` as their ``created_at`` (auto_now_add)."""
    with mock.patch("django.utils.timezone.now", return_value=moment):
        yield


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def charge(org, lease_id, period=0, cents=15_000):
    c = LeaseCharge(organization_id=org.pk, lease_id=lease_id, period=period, amount_cents=cents)
    return lease_charges_post(charges=[c]).transaction_for(c)


def test_statement_sums_each_kind_with_the_lines_behind_it():
    org = OrganizationFactory()
    finance = UserFactory(username="fin")
    with clock(utc(2026, 9, 20, 12)):
        wallet_fund(organization=org, amount_cents=100_000, memo="September wire")
    with clock(utc(2026, 10, 2, 12)):
        wallet_fund(organization=org, amount_cents=50_000, memo="October wire")
    with clock(utc(2026, 10, 3, 12)):
        first = charge(org, lease_id=1)
        charge(org, lease_id=2)
    with clock(utc(2026, 10, 10, 12)):
        charge(org, lease_id=3, period=1)
    with clock(utc(2026, 10, 11, 12)):
        transaction_reverse(original=first, actor=finance, memo="banned account")
    with clock(utc(2026, 10, 12, 12)):
        wallet_adjust(organization=org, amount_cents=-2_500, actor=finance, memo="fee")
    with clock(utc(2026, 11, 2, 12)):
        wallet_fund(organization=org, amount_cents=7_000)

    statement = statement_for(organization=org, year=2026, month=10)

    assert statement.opening_cents == 100_000
    assert statement.total_cents(TransactionKind.FUNDING) == 50_000
    assert statement.total_cents(TransactionKind.CHARGE) == -30_000
    assert statement.total_cents(TransactionKind.RENEWAL) == -15_000
    assert statement.total_cents(TransactionKind.REVERSAL) == 15_000
    assert statement.total_cents(TransactionKind.ADJUSTMENT) == -2_500
    assert statement.closing_cents == 100_000 + 50_000 - 30_000 - 15_000 + 15_000 - 2_500
    assert statement.is_balanced
    assert [line.memo for line in statement.lines][:1] == ["October wire"]
    assert len(statement.lines) == 6
    charges = next(s for s in statement.sections if s.kind == TransactionKind.CHARGE)
    assert [line.amount_cents for line in charges.lines] == [-15_000, -15_000]


def test_month_boundaries_follow_los_angeles_across_daylight_saving():
    # DST ends 2026-11-01 02:00 PDT: October ends at 07:00 UTC, November at 08:00 UTC.
    org = OrganizationFactory()
    moments = {
        "oct-last-minute": utc(2026, 11, 1, 6, 59),  # Oct 31 23:59 PDT
        "nov-first-minute": utc(2026, 11, 1, 7, 0),  # Nov 1 00:00 PDT
        "nov-last-minute": utc(2026, 12, 1, 7, 59),  # Nov 30 23:59 PST (UTC-8)
        "dec-first-minute": utc(2026, 12, 1, 8, 0),  # Dec 1 00:00 PST
    }
    for cents, (memo, moment) in enumerate(moments.items(), start=1):
        with clock(moment):
            wallet_fund(organization=org, amount_cents=cents * 100, memo=memo)

    october = statement_for(organization=org, year=2026, month=10)
    november = statement_for(organization=org, year=2026, month=11)
    december = statement_for(organization=org, year=2026, month=12)

    assert [line.memo for line in october.lines] == ["oct-last-minute"]
    assert [line.memo for line in november.lines] == ["nov-first-minute", "nov-last-minute"]
    assert [line.memo for line in december.lines] == ["dec-first-minute"]
    assert november.starts_at == utc(2026, 11, 1, 7).astimezone(FINANCE_TZ)
    assert november.ends_at == utc(2026, 12, 1, 8).astimezone(FINANCE_TZ)
    assert (october.closing_cents, november.opening_cents) == (100, 100)
    assert (november.closing_cents, december.opening_cents) == (600, 600)
    assert all(s.is_balanced for s in (october, november, december))


def test_march_spring_forward_boundary():
    # DST starts 2026-03-08: March begins at 08:00 UTC (PST), April at 07:00 UTC (PDT).
    assert month_bounds(2026, 3) == (
        utc(2026, 3, 1, 8).astimezone(FINANCE_TZ),
        utc(2026, 4, 1, 7).astimezone(FINANCE_TZ),
    )


LEASE_IDS = itertools.count(1_000)  # (lease, period) is charged once across examples too

# Movements a wallet can see, spread around a random month's boundaries.
movement = st.tuples(
    st.sampled_from(["fund", "adjust", "charge", "renewal", "refund"]),
    st.integers(min_value=1, max_value=50_000),
    st.integers(min_value=-4 * 24 * 60, max_value=35 * 24 * 60),  # minutes from month start
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    year=st.integers(min_value=2025, max_value=2028),
    month=st.integers(min_value=1, max_value=12),
    moves=st.lists(movement, max_size=14),
)
def test_opening_plus_movements_always_equals_closing(year, month, moves):
    org = OrganizationFactory()
    start, end = month_bounds(year, month)
    with clock(start - timedelta(days=10)):
        wallet_fund(organization=org, amount_cents=200_000)
    done = [(start - timedelta(days=10), 200_000)]
    charges: list[LedgerTransaction] = []
    for step, (kind, cents, minutes) in enumerate(sorted(moves, key=lambda m: m[2])):
        at, lease_id = start + timedelta(minutes=minutes), next(LEASE_IDS)
        with clock(at):
            try:
                if kind == "fund":
                    wallet_fund(organization=org, amount_cents=cents)
                    done.append((at, cents))
                elif kind == "adjust":
                    signed = cents if step % 2 else -cents
                    wallet_adjust(organization=org, amount_cents=signed, actor=None, memo="p")
                    done.append((at, signed))
                elif kind in ("charge", "renewal"):
                    charges.append(
                        charge(org, lease_id, period=int(kind == "renewal"), cents=cents)
                    )
                    done.append((at, -cents))
                elif charges:
                    original = charges.pop(0)
                    transaction_reverse(original=original, actor=None, memo="refund")
                    done.append((at, -original.entries.get(account__kind="wallet").amount_cents))
            except InsufficientFunds:
                pass

    statement = statement_for(organization=org, year=year, month=month)

    assert statement.opening_cents == sum(c for at, c in done if at < start)
    assert statement.closing_cents == sum(c for at, c in done if at < end)
    assert statement.opening_cents + statement.movements_cents == statement.closing_cents
    assert len(statement.lines) == sum(1 for at, _ in done if start <= at < end)
    following = statement_for(
        organization=org, year=end.year, month=end.month
    )  # the next month opens where this one closed
    assert following.opening_cents == statement.closing_cents


def test_statement_page_and_csv_say_the_same(client, partner):
    client.force_login(staff_in(FINANCE, "fin"))
    org = partner.organization
    wallet_fund(organization=org, amount_cents=12_345, memo="=evil()", reference="W-1")
    wallet = Wallet.objects.get(organization=org)
    now = datetime.now(FINANCE_TZ)
    url = reverse("admin:billing_wallet_statement", args=[wallet.pk])

    page = client.get(url).content.decode()
    rows = list(
        csv.DictReader(
            io.StringIO(
                b"".join(
                    client.get(url + f"?month={now:%Y-%m}&format=csv").streaming_content
                ).decode()
            )
        )
    )

    assert "America/Los_Angeles" in page and f"{now:%B %Y}" in page
    assert 'data-kind="funding" data-cents="312345"' in page
    by_section = {row["section"]: row for row in rows}
    assert by_section["Opening balance"]["amount_cents"] == "0"
    assert by_section["Top-ups total"]["amount_cents"] == "312345"
    assert by_section["Top-ups total"]["amount_usd"] == "3123.45"
    assert by_section["Closing balance"]["amount_cents"] == "312345"
    assert "America/Los_Angeles" in by_section["Statement"]["time_america_los_angeles"]
    assert any(row["memo"] == "'=evil()" for row in rows)  # formulas neutralised


def test_statement_refuses_a_malformed_month(client, partner):
    client.force_login(staff_in(FINANCE, "fin"))
    wallet = Wallet.objects.get(organization=partner.organization)

    response = client.get(
        reverse("admin:billing_wallet_statement", args=[wallet.pk]) + "?month=2026-13"
    )

    assert response.status_code == 200
    assert "the month number must be 01 to 12" in response.content.decode()


def test_revenue_by_month_splits_first_months_renewals_and_refunds():
    org = OrganizationFactory()
    with clock(utc(2026, 8, 1)):
        wallet_fund(organization=org, amount_cents=1_000_000)
    with clock(utc(2026, 9, 15)):
        first = charge(org, 1)
        charge(org, 2)
    with clock(utc(2026, 10, 15)):
        charge(org, 1, period=1)
        transaction_reverse(original=first, actor=None, memo="refund")

    months = revenue_by_month(months=3, now=utc(2026, 10, 20))

    assert [(m.label, m.first_month_cents, m.renewal_cents, m.refunded_cents) for m in months] == [
        ("Aug 2026", 0, 0, 0),
        ("Sep 2026", 30_000, 0, 0),
        ("Oct 2026", 0, 15_000, 15_000),
    ]
