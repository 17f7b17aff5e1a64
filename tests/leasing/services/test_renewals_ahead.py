"""Renewal runs as of a time other than now: refused far ahead, confirmed when allowed,
previewed by a dry run, and never past due or disconnected ahead of the real clock."""

import io
from datetime import UTC, timedelta

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from billing.models import LedgerTransaction, TransactionKind
from billing.selectors import ledger_verify, wallet_balance_cents
from leasing.models import AccountState, BillingStatus, Lease, LeaseStatus, SocialAccount
from leasing.selectors import renewals_preview
from leasing.services.renewals import RenewalRefused, leases_renew
from tests.conftest import make_partner
from tests.factories import LeaseFactory, LeaseRequestFactory

pytestmark = pytest.mark.django_db

PRICE = 15_000


def lease_for(partner, assigned_at, **fields):
    request = LeaseRequestFactory(project=partner.project)
    return LeaseFactory(lease_request=request, assigned_at=assigned_at, **fields)


def days_ago(days):
    return timezone.now() - timedelta(days=days)


def iso(moment):
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def renewals():
    return LedgerTransaction.objects.filter(kind=TransactionKind.RENEWAL).count()


def state():
    """Everything a renewal run may change, to compare before and after."""
    return (
        list(
            Lease.objects.order_by("pk").values_list(
                "status", "billing_status", "periods_paid", "next_renewal_at", "past_due_since"
            )
        ),
        LedgerTransaction.objects.count(),
        sorted(SocialAccount.objects.values_list("pk", "state")),
    )


class Terminal(io.StringIO):
    """Standard input as a person at a terminal types it."""

    def isatty(self):
        return True


# The service ---------------------------------------------------------------------------


def test_a_run_more_than_a_day_ahead_is_refused_unless_allowed_and_charges_nothing():
    partner = make_partner(wallet_cents=100 * PRICE)
    lease_for(partner, days_ago(40))

    with pytest.raises(RenewalRefused, match="day\\(s\\) ahead"):
        leases_renew(at=timezone.now() + timedelta(days=2))

    assert renewals() == 0
    assert leases_renew(at=timezone.now() + timedelta(hours=23)).renewed == 1  # a clock off


def test_no_run_goes_more_than_a_year_ahead_even_when_allowed():
    partner = make_partner(wallet_cents=100 * PRICE)
    lease_for(partner, days_ago(40))

    with pytest.raises(RenewalRefused, match="more than 365 days ahead"):
        leases_renew(at=timezone.now() + timedelta(days=366), allow_future=True)
    assert renewals() == 0


def test_a_run_ahead_charges_in_advance_but_only_a_started_period_makes_a_lease_past_due():
    # Both leases' month 2 started 10 days ago; months 3-5 start within the next 100 days.
    paid_now = lease_for(make_partner(wallet_cents=PRICE), days_ago(40))
    unpaid = lease_for(make_partner(wallet_cents=0), days_ago(40))
    before = timezone.now()

    summary = leases_renew(at=before + timedelta(days=100), allow_future=True)

    paid_now.refresh_from_db()
    unpaid.refresh_from_db()
    assert (summary.renewed, summary.past_due, summary.unpaid_ahead) == (0, 1, 1)
    # Paid through now, short of the months ahead: still current, retried when they start.
    assert paid_now.billing_status == BillingStatus.CURRENT and paid_now.past_due_since is None
    assert paid_now.periods_paid == 2 and paid_now.next_renewal_at > timezone.now()
    # Past due since now, the real time, not the run's time 100 days on.
    assert unpaid.billing_status == BillingStatus.PAST_DUE
    assert before <= unpaid.past_due_since <= timezone.now()
    assert unpaid.status == LeaseStatus.ASSIGNED


def test_a_run_ahead_never_cuts_the_grace_period_short(settings):
    settings.RENEWAL_GRACE_DAYS = 3
    partner = make_partner(wallet_cents=0)
    in_grace = lease_for(
        partner, days_ago(40), billing_status=BillingStatus.PAST_DUE, past_due_since=days_ago(1)
    )
    past_grace = lease_for(
        partner, days_ago(40), billing_status=BillingStatus.PAST_DUE, past_due_since=days_ago(4)
    )

    summary = leases_renew(at=timezone.now() + timedelta(days=30), allow_future=True)

    in_grace.refresh_from_db()
    past_grace.refresh_from_db()
    assert (summary.past_due, summary.disconnected) == (1, 1)
    assert in_grace.status == LeaseStatus.ASSIGNED
    assert past_grace.status == LeaseStatus.DISCONNECTED
    assert past_grace.disconnected_at <= timezone.now()
    past_grace.social_account.refresh_from_db()
    assert past_grace.social_account.state == AccountState.COOLDOWN
    assert past_grace.social_account.state_changed_at <= timezone.now()


def test_the_database_refuses_a_past_due_time_ahead_of_now():
    lease = lease_for(make_partner(), days_ago(40))

    with pytest.raises(IntegrityError), transaction.atomic():
        Lease.objects.filter(pk=lease.pk).update(
            billing_status=BillingStatus.PAST_DUE,
            past_due_since=timezone.now() + timedelta(days=2),
        )
    Lease.objects.filter(pk=lease.pk).update(  # a few minutes of clock skew is fine
        billing_status=BillingStatus.PAST_DUE, past_due_since=timezone.now() + timedelta(minutes=5)
    )


# The preview ---------------------------------------------------------------------------


def test_the_preview_is_what_the_run_then_does_per_organization(settings):
    settings.RENEWAL_GRACE_DAYS = 3
    rich = make_partner("Rich roasters", wallet_cents=10 * PRICE)
    short = make_partner("Short cafe", wallet_cents=PRICE + 5_000)
    broke = make_partner("Broke beans", wallet_cents=0)
    for days in (40, 70):  # one month owed, two months owed
        lease_for(rich, days_ago(days))
    lease_for(short, days_ago(45))  # paid: the oldest first
    lease_for(short, days_ago(41))  # left past due ...
    lease_for(short, days_ago(40), monthly_price_cents=5_000)  # ... but a cheaper one is paid
    lease_for(
        broke, days_ago(40), billing_status=BillingStatus.PAST_DUE, past_due_since=days_ago(5)
    )
    lease_for(broke, days_ago(10))  # not due
    at = timezone.now()
    before = state()

    preview = renewals_preview(at=at)

    assert state() == before
    rows = {row.name: row for row in preview.organizations}
    assert list(rows) == ["Broke beans", "Rich roasters", "Short cafe"]
    assert (rows["Rich roasters"].renewed, rows["Rich roasters"].periods_charged) == (2, 3)
    assert (rows["Short cafe"].renewed, rows["Short cafe"].past_due) == (2, 1)
    assert rows["Short cafe"].charged_cents == PRICE + 5_000
    assert (rows["Broke beans"].disconnected, rows["Broke beans"].charged_cents) == (1, 0)

    summary = leases_renew(at=at, batch_size=2)

    for field in ("renewed", "past_due", "disconnected", "periods_charged", "charged_cents"):
        assert preview.total(field) == getattr(summary, field), field
    for partner, row in ((rich, rows["Rich roasters"]), (short, rows["Short cafe"])):
        assert wallet_balance_cents(organization_id=partner.organization.pk) == (
            row.wallet_cents - row.charged_cents
        )
    assert ledger_verify() == []


# The command ---------------------------------------------------------------------------


def test_the_command_refuses_a_time_more_than_a_day_ahead_and_says_how_to_go_on():
    partner = make_partner(wallet_cents=100 * PRICE)
    lease_for(partner, days_ago(40))

    with pytest.raises(CommandError, match=r"--allow-future .* --dry-run"):
        call_command("renew_leases", "--at", iso(timezone.now() + timedelta(days=3)))
    assert renewals() == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--at", "9999-12-31"],
        ["--at", "9999-12-31", "--allow-future", "--yes"],
        ["--at", "2033-01-01", "--allow-future", "--yes"],
        ["--at", "9999-12-31T23:59:59-05:00"],
        ["--at", "10000-01-01"],
        ["--at", "2026-02-30"],
        ["--at", "next tuesday"],
        ["--at", ""],
        ["--at", "x" * 5_000],
    ],
)
def test_bad_times_are_one_line_and_exit_1(argv, capsys, monkeypatch):
    # As `python manage.py` runs it; it closes connections when done, which would end the
    # test's transaction, so closing is skipped here.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    lease_for(make_partner(wallet_cents=100 * PRICE), days_ago(40))

    with pytest.raises(SystemExit) as refused:
        execute_from_command_line(["manage.py", "renew_leases", *argv])

    assert refused.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("CommandError: --at ") and err.count("\n") == 1, err
    assert len(err) < 300
    assert renewals() == 0


def test_allow_future_without_a_terminal_or_yes_is_refused():
    lease_for(make_partner(wallet_cents=100 * PRICE), days_ago(40))
    at = iso(timezone.now() + timedelta(days=40))

    with pytest.raises(CommandError, match=r"no terminal to confirm on.*--yes"):
        call_command("renew_leases", "--at", at, "--allow-future", stdin=io.StringIO("yes\n"))
    assert renewals() == 0


def test_allow_future_on_a_terminal_says_what_it_will_charge_and_goes_on_only_on_yes():
    partner = make_partner("Ahead & Co", wallet_cents=100 * PRICE)
    lease_for(partner, days_ago(40))  # owes month 2 now, month 3 in 20 days
    at = iso(timezone.now() + timedelta(days=40))
    out = io.StringIO()

    with pytest.raises(CommandError, match="Not confirmed: nothing was renewed"):
        call_command(
            "renew_leases", "--at", at, "--allow-future", stdin=Terminal("no\n"), stdout=out
        )
    assert renewals() == 0
    assert "Ahead & Co" in out.getvalue()
    assert "Charge $300.00 in advance, as of " in out.getvalue()

    out = io.StringIO()
    call_command("renew_leases", "--at", at, "--allow-future", stdin=Terminal("yes\n"), stdout=out)

    assert renewals() == 2
    assert "1 renewed (2 period(s), $300.00 charged)" in out.getvalue().splitlines()[-1]


def test_allow_future_with_yes_renews_without_asking():
    lease_for(make_partner(wallet_cents=100 * PRICE), days_ago(40))
    out = io.StringIO()

    call_command(
        "renew_leases",
        "--at",
        iso(timezone.now() + timedelta(days=40)),
        "--allow-future",
        "--yes",
        stdin=io.StringIO(""),
        stdout=out,
    )

    assert renewals() == 2
    assert out.getvalue().startswith("Renewals as of ")


def test_a_dry_run_prints_totals_and_each_organization_and_changes_nothing():
    rich = make_partner("Rich roasters", wallet_cents=10 * PRICE)
    broke = make_partner("Broke beans", wallet_cents=0)
    lease_for(rich, days_ago(40))
    lease_for(rich, days_ago(70))
    lease_for(broke, days_ago(40))
    before = state()
    out = io.StringIO()

    call_command("renew_leases", "--dry-run", stdout=out)

    assert state() == before
    head, *organizations = out.getvalue().splitlines()
    assert head.startswith("Dry run, nothing changed: renewals as of ")
    assert head.endswith(
        "2 renewed (3 period(s), $450.00 charged), 1 past due, 0 disconnected, "
        "over 2 organization(s)."
    )
    assert organizations == [
        f"  Broke beans ({broke.organization.pk}): $0.00 charged for 0 period(s), wallet "
        "$0.00 -> $0.00; 0 renewed, 1 past due, 0 disconnected",
        f"  Rich roasters ({rich.organization.pk}): $450.00 charged for 3 period(s), wallet "
        "$1,500.00 -> $1,050.00; 2 renewed, 0 past due, 0 disconnected",
    ]


def test_a_dry_run_may_look_ahead_without_allow_future_and_still_changes_nothing():
    lease_for(make_partner(wallet_cents=100 * PRICE), days_ago(40))
    before = state()
    out = io.StringIO()

    call_command(
        "renew_leases", "--at", iso(timezone.now() + timedelta(days=40)), "--dry-run", stdout=out
    )

    assert state() == before
    assert "1 renewed (2 period(s), $300.00 charged)" in out.getvalue()
