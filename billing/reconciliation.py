"""Reconciliation: everything that would make the books wrong, in one list.

Empty means the books are right. Billing owns the ledger-only checks (stored balances
against their entries, unbalanced transactions, a lease period charged twice). Checks
that need to know about leases are contributed by the app that owns leases, which
registers them when it loads (billing never imports leasing), as ``billing.usage``
does for lease usage. The finance console's reconciliation page and
``manage.py verify_ledger`` both call ``reconciliation_run()``, which records each run
(time, result) for the finance home.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q, Sum

from .models import LEASE_CHARGE_KINDS, LedgerTransaction, ReconciliationRun
from .money import dollars
from .selectors import ledger_verify


@dataclass(frozen=True)
class Problem:
    check: str  # which invariant is broken, e.g. "balance matches entries"
    subject: str  # what it concerns: an account, a transaction, a lease
    detail: str  # what is wrong, in words finance can act on

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: {self.detail}"


Check = Callable[[], list[Problem]]
_checks: dict[str, Check] = {}


def register_check(name: str, check: Check) -> None:
    """Add (or replace) a named check; each returns the problems it finds."""
    _checks[name] = check


def _signed(cents: int) -> str:
    """A difference in dollars with its sign: +$1.50, -$0.25."""
    return ("+" if cents > 0 else "") + dollars(cents)


BALANCES = "balance matches entries"
UNBALANCED = "transaction balances"
CHARGED_TWICE = "lease period charged once"


def balances_match_entries() -> list[Problem]:
    return [
        Problem(
            BALANCES,
            str(m.account),
            f"stored balance {dollars(m.stored_cents)}, its entries sum to "
            f"{dollars(m.entries_cents)} (off by {_signed(m.stored_cents - m.entries_cents)})",
        )
        for m in ledger_verify()
    ]


def transactions_balance() -> list[Problem]:
    """Every transaction has entries and they sum to zero."""
    rows = (
        LedgerTransaction.objects.annotate(
            total=Sum("entries__amount_cents"), legs=Count("entries")
        )
        .filter(Q(legs=0) | ~Q(total=0))
        .order_by("created_at", "pk")
        .values_list("pk", "kind", "total", "legs")
    )
    return [
        Problem(
            UNBALANCED,
            f"{kind} {pk}",
            "has no entries"
            if not legs
            else f"its {legs} entries sum to {_signed(total)}, not $0.00",
        )
        for pk, kind, total, legs in rows
    ]


def lease_periods_charged_once() -> list[Problem]:
    """No (lease, period) has more than one charge or renewal."""
    rows = (
        LedgerTransaction.objects.filter(kind__in=LEASE_CHARGE_KINDS)
        .values("lease_id", "period")
        .annotate(times=Count("pk"))
        .filter(times__gt=1)
        .order_by("lease_id", "period")
        .values_list("lease_id", "period", "times")
    )
    return [
        Problem(CHARGED_TWICE, f"lease {lease_id}", f"period {period} was charged {times} times")
        for lease_id, period, times in rows
    ]


register_check(BALANCES, balances_match_entries)
register_check(UNBALANCED, transactions_balance)
register_check(CHARGED_TWICE, lease_periods_charged_once)


def check_names() -> list[str]:
    return list(_checks)


def reconcile() -> list[Problem]:
    """Every problem every registered check finds (want: none)."""
    return [problem for check in _checks.values() for problem in check()]


def reconciliation_run(*, source: str, actor_label: str = "") -> list[Problem]:
    """Reconcile and record the run (time, where from, how many problems in which
    checks): what the finance home reads as "last reconciled"."""
    problems = reconcile()
    with transaction.atomic():
        ReconciliationRun.objects.create(
            source=source,
            actor_label=actor_label,
            problem_count=len(problems),
            broken_checks=sorted({problem.check for problem in problems}),
        )
    return problems


def reconciliation_last() -> ReconciliationRun | None:
    return ReconciliationRun.objects.order_by("-ran_at", "-pk").first()
