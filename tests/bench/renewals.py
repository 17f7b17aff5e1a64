"""Renewing 100,000 due leases: ``python -m tests.bench.run renewals`` (or
``BENCH_SECTION=renewals make bench``; plain ``make bench`` runs every section).

What it does: drops and recreates the PostgreSQL database ``<DATABASE_URL's name>_renewals``
(so every run starts from the same data), migrates it, and seeds with SQL
``BENCH_RENEWAL_LEASES`` (100,000) leases, $150 a month, spread over
``BENCH_RENEWAL_ORGS`` (100) organizations, all assigned on Jan 5-6. Every wallet is
funded through ``wallet_fund`` for all the rounds, except one organization in ten, funded
for half of its leases' first renewal only. Then ``BENCH_ROUNDS`` (3) rounds each run
``leases_renew`` (batches of ``BENCH_RENEWAL_BATCH``, 1000) one month later than the last,
so every running lease is due again: round 1 renews most and leaves the short wallets'
younger half past due, round 2 disconnects those (past the grace period) and renews the
rest, and so on.

It prints, per round, the seconds, leases claimed, renewed / past due / disconnected,
leases per second and SQL statements per batch, then the median seconds against the goal
(a run over all leases under 60 s). The goal prints PASS or MISS and never changes the
exit status; a run that renews what it should not exits non-zero.
"""

import os
import secrets
import statistics
import string
import sys
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/layers_bench"
GOAL_SECONDS = 60
PRICE = 15_000
ASSIGNED_FROM = datetime(2026, 1, 5, tzinfo=UTC)


def env_number(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name} must be a positive integer, not {raw!r}.")
    return int(raw)


def fresh_database(database_url: str, suffix: str = "renewals") -> str:
    """``<name>_<suffix>`` beside the configured database, dropped and created anew."""
    parts = urlsplit(database_url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise SystemExit(f"DATABASE_URL must be a postgres:// URL, not {parts.scheme}://.")
    name = f"{parts.path.lstrip('/') or 'layers_bench'}_{suffix}"
    admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(parts._replace(path=f"/{name}"))


def setup_django(database_url: str) -> None:
    alphabet = string.ascii_letters + string.digits
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "layers_ops.settings",
            "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(leases: int, organizations: int, rounds: int) -> list[str]:
    """Organizations, projects, leased accounts and due leases, by SQL; wallets funded
    through the ledger. Returns the ids of the organizations funded short."""
    from django.db import connection

    from billing.services.movements import wallet_fund
    from layers_ops.partners.models import Organization
    from leasing.models import Pool

    pool = Pool.objects.create(name="Bench pool", tags=["coffee"], language="en", geos=["US"])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO partners_organization (id, name, created_at) "
            "SELECT 'org_bench_' || lpad(g::text, 6, '0'), 'Bench ' || g, now() "
            "FROM generate_series(1, %s) g",
            [organizations],
        )
        cursor.execute(
            "INSERT INTO partners_project (id, organization_id, name, created_at) "
            "SELECT 'prj_bench_' || lpad(g::text, 6, '0'), 'org_bench_' || lpad(g::text, 6, '0'),"
            " 'Bench project', now() FROM generate_series(1, %s) g",
            [organizations],
        )
        cursor.execute(
            "INSERT INTO leasing_socialaccount (id, pool_id, platform, handle, followers, "
            "follower_geos, state, created_at) "
            "SELECT 'sa_bench_' || g, %s, 'tiktok', 'bench_' || g, 1000 + g, '[\"US\"]', "
            "'leased', now() FROM generate_series(1, %s) g",
            [pool.pk, leases],
        )
        # Lease g belongs to organization (g mod N) + 1 and was assigned g seconds after
        # Jan 5: every organization's leases are interleaved in id order with the others'.
        cursor.execute(
            "INSERT INTO leasing_lease (social_account_id, project_id, status, billing_status, "
            "monthly_price_cents, assigned_at, periods_paid, next_renewal_at, "
            "disconnected_reason) "
            "SELECT 'sa_bench_' || g, 'prj_bench_' || lpad((g %% %s + 1)::text, 6, '0'), "
            "'assigned', 'current', %s, %s + g * interval '1 second', 1, "
            "%s + g * interval '1 second' + interval '1 month', '' "
            "FROM generate_series(1, %s) g",
            [organizations, PRICE, ASSIGNED_FROM, ASSIGNED_FROM, leases],
        )
    per_org = leases // organizations
    short = []
    for number, organization in enumerate(Organization.objects.order_by("pk"), 1):
        if number % 10 == 0:
            cents = per_org // 2 * PRICE
            short.append(organization.pk)
        else:
            cents = (per_org + 1) * PRICE * rounds
        wallet_fund(organization=organization, amount_cents=cents, memo="Bench funding")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return short


def main() -> int:
    from layers_ops.dates import add_months

    leases = env_number("BENCH_RENEWAL_LEASES", 100_000)
    organizations = env_number("BENCH_RENEWAL_ORGS", 100)
    rounds = env_number("BENCH_ROUNDS", 3)
    batch_size = env_number("BENCH_RENEWAL_BATCH", 1000)
    database_url = fresh_database(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    print(f"\nRenewals: {leases:,} leases over {organizations} organizations in {database_url}")
    started = time.monotonic()
    setup_django(database_url)
    short = seed(leases, organizations, rounds)
    print(f"  migrated and seeded in {time.monotonic() - started:.1f} s", flush=True)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from billing.selectors import ledger_verify
    from leasing.services.renewals import leases_renew

    seconds = []
    for round_number in range(1, rounds + 1):
        at = add_months(ASSIGNED_FROM, round_number).replace(day=8)
        with CaptureQueriesContext(connection) as queries:
            began = time.monotonic()
            summary = leases_renew(at=at, batch_size=batch_size)
            took = time.monotonic() - began
        seconds.append(took)
        per_batch = len(queries) / max(summary.batches, 1)
        print(
            f"  round {round_number} at {at:%Y-%m-%d}: {took:6.1f} s  "
            f"{summary.leases_claimed:,} claimed  {summary.renewed:,} renewed  "
            f"{summary.past_due:,} past due  {summary.disconnected:,} disconnected  "
            f"{summary.leases_claimed / took:,.0f} leases/s  "
            f"{per_batch:.1f} statements/batch ({summary.batches} batches)",
            flush=True,
        )
        if round_number == 1 and summary.renewed + summary.past_due != leases:
            print("FAILED: round 1 did not see every lease.", file=sys.stderr)
            return 1
    if ledger_verify():
        print("FAILED: ledger_verify found a balance that differs from its entries.")
        return 1
    median = statistics.median(seconds)
    verdict = "PASS" if median < GOAL_SECONDS else "MISS"
    print(
        f"  median {median:.1f} s per run over {leases:,} due leases "
        f"(goal < {GOAL_SECONDS} s)  {verdict}; {len(short)} short wallets"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
