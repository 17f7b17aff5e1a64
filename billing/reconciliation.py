"""Reconciliation: everything that would make the books wrong, in one list.

Empty means the books are right. Billing owns the ledger-only checks (stored balances
against their entries, unbalanced transactions, a lease period charged twice). Checks
that need to know about leases are contributed by the app that owns leases, which
registers them when it loads (billing never imports leasing), as ``billing.usage``
does for lease usage. The finance console's reconciliation page and
``manage.py verify_ledger`` both call ``reconcile()``.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from .models import LEASE_CHARGE_KINDS, LedgerTransaction
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


BALANCES = "balance matches entries"
UNBALANCED = "transaction balances"
CHARGED_TWICE = "lease period charged once"


def balances_match_entries() -> list[Problem]:
    return [
        Problem(
            BALANCES,
            str(m.account),
            f"stored balance {m.stored_cents} cents, its entries sum to {m.entries_cents} "
            f"(off by {m.stored_cents - m.entries_cents:+d} cents)",
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
            "has no entries" if not legs else f"its {legs} entries sum to {total} cents, not 0",
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
