"""The finance console on a year of ledger: export, statement, reconciliation, lists.

Run alone with ``python -m tests.bench.finance`` (or ``python -m tests.bench.run finance``);
``make bench`` runs it after the API benchmark. It migrates ``BENCH_FINANCE_DATABASE_URL``
(default ``postgres://postgres@127.0.0.1:5432/layers_bench_finance``, created if missing),
empties it, posts a year of activity through the real billing services
(``BENCH_FINANCE_WALLETS`` wallets, 50 by default, each funded and charged for
``BENCH_FINANCE_LEASES`` leases, 40 by default, for 12 monthly periods: ~48,000 wallet
and revenue entries) and times, over ``BENCH_FINANCE_ROUNDS`` (3) rounds, medians of:

* the ledger CSV export of every entry, streamed through the admin (rows/s, and the
  peak Python memory while streaming: it must not grow with the number of rows);
* one wallet's monthly statement (selector) and the reconciliation (every check);
* the wallet and ledger changelists (time and SQL statements per page).
"""

import os
import statistics
import sys
import time
import tracemalloc
import warnings
from datetime import timedelta
from unittest import mock

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/layers_bench_finance"


def inprocess_setup(database_url: str = "") -> None:
    """Django in this process on an empty, migrated benchmark database: ``database_url``,
    or ``BENCH_FINANCE_DATABASE_URL``, or DEFAULT_URL. The in-process sections share it."""
    warnings.filterwarnings("ignore", "No directory at", UserWarning)  # no collectstatic
    os.environ["DATABASE_URL"] = database_url or os.environ.get(
        "BENCH_FINANCE_DATABASE_URL", DEFAULT_URL
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only-" + "k" * 60)
    os.environ["ALLOWED_HOSTS"] = "testserver"  # the in-process test client
    from tests.bench.run import ensure_database

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)
    call_command("flush", "--noinput", verbosity=0)  # TRUNCATE: the ledger guards allow it


def _seed(wallets: int, leases: int):
    from django.utils import timezone

    from billing.services.charges import LeaseCharge, lease_charges_post
    from billing.services.movements import wallet_fund
    from tests.factories import OrganizationFactory

    start = timezone.now() - timedelta(days=365)
    organizations = [OrganizationFactory() for _ in range(wallets)]
    for org in organizations:
        with mock.patch("django.utils.timezone.now", return_value=start):
            wallet_fund(organization=org, amount_cents=leases * 12 * 15_000)
    for period in range(12):
        at = start + timedelta(days=30 * period + 1)
        with mock.patch("django.utils.timezone.now", return_value=at):
            charges = [
                LeaseCharge(
                    organization_id=org.pk,
                    lease_id=w * 1_000 + n,
                    period=period,
                    amount_cents=15_000,
                )
                for w, org in enumerate(organizations)
                for n in range(leases)
            ]
            for i in range(0, len(charges), 500):
                lease_charges_post(charges=charges[i : i + 500])
    return organizations


def _timed(func, rounds):
    times, results = [], None
    for _ in range(rounds):
        began = time.perf_counter()
        results = func()
        times.append(time.perf_counter() - began)
    return statistics.median(times), results


def main() -> int:
    inprocess_setup()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from billing.models import LedgerEntry, Wallet
    from billing.reconciliation import reconcile
    from billing.selectors import FINANCE_TZ, statement_for

    wallets = int(os.environ.get("BENCH_FINANCE_WALLETS", 50))
    leases = int(os.environ.get("BENCH_FINANCE_LEASES", 40))
    rounds = int(os.environ.get("BENCH_FINANCE_ROUNDS", 3))
    began = time.perf_counter()
    organizations = _seed(wallets, leases)
    entries = LedgerEntry.objects.count()
    print(f"seeded {entries} entries in {time.perf_counter() - began:.1f} s", flush=True)

    admin = get_user_model().objects.create_superuser("bench-finance", password="x")
    client = Client()
    client.force_login(admin)

    def export():
        response = client.get(reverse("admin:billing_ledgerentry_export"))
        return sum(chunk.count(b"\n") for chunk in response.streaming_content) - 1

    export_s, rows = _timed(export, rounds)
    tracemalloc.start()  # once more, outside the timing: how much memory streaming holds
    export()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    if rows != entries:
        print(f"FAILED: the export held {rows} rows, the ledger {entries}", file=sys.stderr)
        return 1
    month = timezone.now().astimezone(FINANCE_TZ) - timedelta(days=60)
    statement_s, statement = _timed(
        lambda: statement_for(organization=organizations[0], year=month.year, month=month.month),
        rounds,
    )
    reconcile_s, problems = _timed(reconcile, rounds)

    def page(url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    wallets_s, wallet_queries = _timed(
        lambda: page(reverse("admin:billing_wallet_changelist")), rounds
    )
    ledger_s, ledger_queries = _timed(
        lambda: page(reverse("admin:billing_ledgerentry_changelist")), rounds
    )
    wallet = Wallet.objects.get(organization=organizations[0])
    wallet_page_s, wallet_page_queries = _timed(
        lambda: page(reverse("admin:billing_wallet_change", args=[wallet.pk])), rounds
    )
    print(f"\nfinance console, {entries} entries, medians of {rounds} rounds")
    print(
        f"  ledger CSV export, all entries  {export_s:7.2f} s  {rows / export_s:9.0f} rows/s"
        f"  peak Python memory {peak / 1e6:.1f} MB"
    )
    print(
        f"  statement, one wallet-month     {statement_s * 1000:7.1f} ms"
        f"  ({len(statement.lines)} lines, balanced: {statement.is_balanced})"
    )
    print(
        f"  reconciliation, every check     {reconcile_s * 1000:7.1f} ms"
        f"  ({len(problems)} problems)"
    )
    print(f"  wallet list page                {wallets_s * 1000:7.1f} ms  {wallet_queries} queries")
    print(
        f"  wallet page (balance chart)     {wallet_page_s * 1000:7.1f} ms"
        f"  {wallet_page_queries} queries"
    )
    print(f"  ledger list page                {ledger_s * 1000:7.1f} ms  {ledger_queries} queries")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
