"""CSV intake of hand-warmed accounts into a pool.

This module writes; reading and checking the file (its format and each cell's rule) is
``leasing.intake_parsing``. One service, ``accounts_import``, is shared by the admin
import (preview, then confirm) and the ``import_accounts`` command, so both add, update
and refuse the same rows.

The file: a header row naming ``handle`` and ``followers`` (and optionally ``geo``), then
one account per line; ``geo`` lists the follower countries as ``US|CA``. Empty lines are
ignored, a UTF-8 BOM and CRLF line ends are tolerated. Line numbers in reports are the
file's own (the header is line 1).

What a row does:

* a new handle is added to the pool in the state asked (``ready`` by default), with an
  AccountEvent saying who imported it;
* a handle already known (TikTok handles are case-insensitive and stored lower-case) is
  updated: followers, follower geos (kept when the row gives none) and pool, with an
  AccountEvent saying what changed and who imported it. Its state never changes here
  (the account actions move states). An account that is ``leased``
  (a partner holds it) or ``retired`` is refused rather than touched;
* a row is refused, with its line and reason, for: a missing or malformed handle, followers
  that are not a whole number of zero or more, an unknown country code, a handle already
  seen earlier in the file, or a leased/retired account.

A file with any refused row changes nothing (not even the pool) unless ``skip_invalid``;
then the good rows are written and the refused ones reported. Writes are bulk (batches,
one transaction), so 100,000 rows take seconds, not a save per row.

Rows are streamed: the file is read, checked, looked up and written ``CHUNK_ROWS`` at a
time inside the one transaction, so memory grows with the handles seen (to find
duplicates) and the refused rows, not with the file. The report keeps counts and the
first ``listed`` added and updated rows.

Locks: the pool row first (created if new; a concurrent import creating the same pool
waits for it and then uses it), then each chunk's known accounts in pk order.
"""

import itertools
import json
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import IntegrityError, OperationalError, connection, connections, transaction
from django.utils import timezone

from layers_ops.staff.once import once_take

from .intake_parsing import (
    CleanRow,
    IntakeError,
    IntakeRow,
    PoolOptions,
    Refusal,
    handle_clean,
    pool_options_clean,
    rows_check,
    shown,
)
from .models import AccountEvent, AccountImport, AccountState, Pool, SocialAccount
from .services.history import actor_label

INTAKE_STATES = (AccountState.READY, AccountState.WARMING)
UNTOUCHABLE = {
    AccountState.LEASED: "leased to a partner: update it after its lease ends",
    AccountState.RETIRED: "retired: not updated",
}
PLATFORM = "tiktok"
WRITE_BATCH = 2000
CHUNK_ROWS = 20_000  # rows read, checked, looked up and written at a time


@dataclass(frozen=True)
class Added:
    line: int
    handle: str
    followers: int
    geos: list[str]


@dataclass(frozen=True)
class Updated:
    line: int
    handle: str
    followers: int
    geos: list[str]
    account_id: str
    state: str
    followers_before: int
    pool_before: str
    pool_moved: bool


@dataclass
class ImportReport:
    pool_name: str
    pool_created: bool
    state: str
    skip_invalid: bool
    added: list[Added] = field(default_factory=list)  # the first ``listed``
    updated: list[Updated] = field(default_factory=list)  # the first ``listed``
    refused: list[Refusal] = field(default_factory=list)  # all of them
    added_count: int = 0
    updated_count: int = 0
    written: bool = False
    record: AccountImport | None = None

    @property
    def importable(self) -> int:
        """Rows that are (or would be) written: added plus updated."""
        return self.added_count + self.updated_count

    @property
    def refused_whole_file(self) -> bool:
        """True when refusals stop the whole import (no ``skip_invalid``)."""
        return bool(self.refused) and not self.skip_invalid


# The pool ----------------------------------------------------------------------------


def _pool_get(options: PoolOptions, *, lock: bool) -> Pool | None:
    pools = Pool.objects.select_for_update() if lock else Pool.objects
    return pools.filter(name=options.name).first()


def _pool_lock(options: PoolOptions) -> tuple[Pool, bool]:
    """The pool, locked (and created when new): ``(pool, created)``. An import creating
    the same new pool at the same moment makes this INSERT wait for its commit; then the
    pool is theirs and this import carries on into it."""
    pool = _pool_get(options, lock=True)
    if pool is not None:
        return pool, False
    try:
        with transaction.atomic():
            return Pool.objects.create(
                name=options.name,
                tags=options.verticals or [],
                language=options.language or "",
                geos=options.geos or [],
            ), True
    except IntegrityError:
        pool = _pool_get(options, lock=True)
        if pool is None:  # created and deleted again meanwhile
            raise IntakeError(
                f"Pool {options.name!r} changed while the import ran; nothing was written. "
                "Run it again."
            ) from None
        return pool, False


def _pool_save(pool: Pool, options: PoolOptions) -> None:
    changed = []
    for attribute, value in (
        ("tags", options.verticals),
        ("language", options.language),
        ("geos", options.geos),
    ):
        if value is not None and getattr(pool, attribute) != value:
            setattr(pool, attribute, value)
            changed.append(attribute)
    if changed:
        pool.save(update_fields=changed)


# The service -------------------------------------------------------------------------


# Handles per lookup, below PostgreSQL's 65,535 bind parameters. Few, large lookups: each
# one is an index probe per handle or one hashed scan, while many small ones can each scan
# the table when its statistics predate a big import.
LOOKUP_BATCH = 50_000


def _existing(handles: list[str], *, lock: bool) -> dict[str, SocialAccount]:
    """Known accounts by handle. With ``lock``, rows are locked in pk order (the order
    every leasing service locks accounts in), so intake never deadlocks an allocation."""
    batch = LOOKUP_BATCH
    found: dict[str, str] = {}
    for start in range(0, len(handles), batch):
        found.update(
            SocialAccount.objects.filter(
                platform=PLATFORM, handle__in=handles[start : start + batch]
            ).values_list("handle", "pk")
        )
    if not found:
        return {}
    pks = sorted(found.values())
    accounts: dict[str, SocialAccount] = {}
    queryset = SocialAccount.objects.select_related("pool").only(
        "pk", "handle", "state", "followers", "follower_geos", "pool", "pool__name"
    )
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    for start in range(0, len(pks), batch):
        for account in queryset.filter(pk__in=pks[start : start + batch]).order_by("pk"):
            accounts[account.handle] = account
    return accounts


DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE
CONFLICT = (
    "Some of these handles were added by someone else while the import ran; nothing was "
    "written. Run it again."
)


def accounts_import(
    *,
    rows: Iterable[IntakeRow],
    pool_name: str,
    verticals=None,
    language: str | None = None,
    geos=None,
    state: str = AccountState.READY,
    skip_invalid: bool = False,
    actor=None,
    file_name: str = "",
    dry_run: bool = False,
    listed: int | None = None,
    once: str | None = None,
) -> ImportReport:
    """Add or update the rows' accounts in the named pool (created if new, its verticals,
    language and geos updated when given); see the module docstring for the rules.

    ``rows`` may be a generator (``rows_iter`` over an open file): it is read once,
    ``CHUNK_ROWS`` at a time. ``dry_run`` plans without writing: the admin's preview.
    Otherwise one transaction, which writes nothing when a row is refused and
    ``skip_invalid`` is off. ``listed`` caps the added and updated rows kept in the report
    (None keeps all; the counts are always whole). Raises ``IntakeError`` for options or a
    file that cannot work (unknown state, a new pool without verticals, a bad language or
    country code, no header, not UTF-8) and when a concurrent import added the same
    handles first; nothing is written then. ``once`` is the confirm form's one-time token
    (``layers_ops.staff.once``): confirming the same preview twice imports once; the
    preview (``dry_run``) spends none.
    """
    if state not in INTAKE_STATES:
        raise IntakeError("Imported accounts start as ready or warming.")
    options = pool_options_clean(
        pool_name=pool_name, verticals=verticals, language=language, geos=geos
    )
    with _deadlock_refused(), transaction.atomic():
        ticket = once_take(None if dry_run else once, user=actor)
        pool = _pool_get(options, lock=False)
        if pool is None and not options.verticals:
            raise IntakeError(
                f"Pool {options.name!r} is new: give its verticals (e.g. coffee, food)."
            )
        report = ImportReport(
            pool_name=options.name,
            pool_created=pool is None,
            state=state,
            skip_invalid=skip_invalid,
        )
        if not dry_run:
            pool, report.pool_created = _pool_lock(options)
            _pool_save(pool, options)
        seen: dict[str, int] = {}
        added = 0
        rows = iter(rows)
        while chunk := list(itertools.islice(rows, CHUNK_ROWS)):
            new_rows, update_rows = _chunk_plan(
                chunk, seen, report, options, listed=listed, lock=not dry_run
            )
            if dry_run or report.refused_whole_file:
                continue  # once the file is refused, the rest is only checked
            try:
                with transaction.atomic():
                    added += _accounts_add(new_rows, pool=pool, state=state, actor=actor)
            except IntegrityError:
                raise IntakeError(CONFLICT) from None
            _accounts_update(update_rows, pool=pool, actor=actor)
        if dry_run:
            return report
        if report.refused_whole_file:
            transaction.set_rollback(True)  # the pool and the chunks already written
            return report
        report.record = AccountImport.objects.create(
            pool=pool,
            file_name=shown(file_name, 255),
            state=state,
            added=added,
            updated=report.updated_count,
            refused_count=len(report.refused),
            refused=[[r.line, r.handle, r.reason] for r in report.refused],
            actor=actor,
            actor_label=actor_label(actor),
        )
        report.written = True
        ticket.done(
            f"{file_name or 'the file'} imported into {pool.name}: {added:,} added, "
            f"{report.updated_count:,} updated"
        )
        return report


@contextmanager
def _deadlock_refused():
    """Two imports locking the same known accounts in different chunks can deadlock;
    PostgreSQL then aborts one of them, which is refused whole like any conflict."""
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != DEADLOCK_DETECTED:
            raise
        raise IntakeError(
            "Another import changed the same accounts at the same moment; nothing was "
            "written. Run it again."
        ) from None


def _chunk_plan(chunk, seen, report: ImportReport, options: PoolOptions, *, listed, lock):
    """Checks a chunk and sorts its rows into new and known accounts (locking the known
    ones unless previewing); adds them to the report. Returns ``(new_rows, update_rows)``."""
    clean, refused = rows_check(chunk, seen)
    existing = _existing([c.handle for c in clean], lock=lock)
    new_rows, update_rows = [], []
    for row in clean:
        account = existing.get(row.handle)
        if account is None:
            new_rows.append(row)
        elif account.state in UNTOUCHABLE:
            refused.append(
                Refusal(
                    row.row.line,
                    shown(row.row.handle),
                    f"@{row.handle} is {UNTOUCHABLE[account.state]}",
                )
            )
        else:
            update_rows.append((row, account))
    refused.sort(key=lambda refusal: refusal.line)
    report.refused.extend(refused)
    report.added_count += len(new_rows)
    report.updated_count += len(update_rows)
    room = None if listed is None else max(0, listed - len(report.added))
    report.added += [Added(r.row.line, r.handle, r.followers, r.geos) for r in new_rows[:room]]
    room = None if listed is None else max(0, listed - len(report.updated))
    report.updated += [
        Updated(
            line=r.row.line,
            handle=r.handle,
            followers=r.followers,
            geos=r.geos or list(account.follower_geos),
            account_id=account.pk,
            state=account.state,
            followers_before=account.followers,
            pool_before=account.pool.name,
            pool_moved=account.pool.name != options.name,
        )
        for r, account in update_rows[:room]
    ]
    return new_rows, update_rows


def _accounts_add(rows: list[CleanRow], *, pool: Pool, state: str, actor) -> int:
    now = timezone.now()
    accounts = [
        SocialAccount(
            pool=pool,
            platform=PLATFORM,
            handle=row.handle,
            followers=row.followers,
            follower_geos=row.geos,
            state=state,
            state_changed_at=now,
            warmed_since=now if state == AccountState.READY else None,
        )
        for row in rows
    ]
    label = actor_label(actor)
    events = [
        AccountEvent(
            account_id=account.pk,
            from_state="",
            to_state=state,
            actor=actor,
            actor_label=label,
            reason=f"Imported into {pool.name}",
        )
        for account in accounts
    ]
    _insert_many(SocialAccount, accounts)
    _insert_many(AccountEvent, events)
    return len(accounts)


def _insert_many(model, objs: list) -> None:
    """INSERT ``objs`` in bulk with a COPY of the values ``bulk_create`` would send (each
    field's ``pre_save`` and ``get_db_prep_save``), several times faster for large
    batches. Primary keys must be set by the caller or be database-generated (then they
    are not read back)."""
    if not objs:
        return
    meta = model._meta
    fields = [
        f for f in meta.concrete_fields if not (f.primary_key and f.db_returning)
    ]  # leave database-generated keys (AutoField) to the database
    db = connections[model.objects.db]  # the wrapper itself, not the thread-local proxy
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    sql = f"COPY {db.ops.quote_name(meta.db_table)} ({columns}) FROM STDIN"
    # The raw COPY bypasses Django's cursor wrapper: wrap its errors (a unique violation
    # becomes django.db.IntegrityError) as every other statement's are.
    with db.wrap_database_errors, db.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for obj in objs:
            copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields])


def _accounts_update(rows, *, pool: Pool, actor) -> None:
    """Write the rows that change something, and one AccountEvent per changed account
    saying what changed (``{field: [before, after]}``) and who imported it."""
    changed, events = [], []
    label = actor_label(actor)
    for row, account in rows:
        geos = row.geos or account.follower_geos
        before = {
            "followers": account.followers,
            "follower_geos": account.follower_geos,
            "pool": account.pool.name,
        }
        after = {"followers": row.followers, "follower_geos": geos, "pool": pool.name}
        diff = {name: [before[name], after[name]] for name in after if before[name] != after[name]}
        if not diff:
            continue
        account.followers, account.follower_geos, account.pool = row.followers, geos, pool
        changed.append(account)
        events.append(
            AccountEvent(
                account_id=account.pk,
                from_state="",
                to_state="",
                changes=diff,
                actor=actor,
                actor_label=label,
                reason=f"Import into {pool.name}",
            )
        )
    for start in range(0, len(changed), WRITE_BATCH):
        _update_from_values(changed[start : start + WRITE_BATCH], pool=pool)
    _insert_many(AccountEvent, events)


def _update_from_values(accounts: list[SocialAccount], *, pool: Pool) -> None:
    """One ``UPDATE ... FROM (VALUES ...)`` per batch: PostgreSQL joins the new values
    on the primary key, where ``bulk_update``'s CASE per column is quadratic in the batch."""
    meta = SocialAccount._meta
    column = {name: meta.get_field(name).column for name in ("followers", "follower_geos", "pool")}
    values = ", ".join(["(%s, %s, %s::jsonb)"] * len(accounts))
    sql = (
        f'UPDATE "{meta.db_table}" AS a SET "{column["followers"]}" = v.followers, '
        f'"{column["follower_geos"]}" = v.geos, "{column["pool"]}" = %s '
        f"FROM (VALUES {values}) AS v(id, followers, geos) "
        f'WHERE a."{meta.pk.column}" = v.id'
    )
    params = [pool.pk]
    for account in accounts:
        params += [account.pk, account.followers, json.dumps(account.follower_geos)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@transaction.atomic
def social_account_add(
    *, pool: Pool, handle: str, followers: int, follower_geos: list[str], actor
) -> SocialAccount:
    """One account added by hand: it starts warming, and its history says who added it."""
    account = SocialAccount.objects.create(
        pool=pool,
        platform=PLATFORM,
        handle=handle_clean(handle),
        followers=followers,
        follower_geos=follower_geos,
        state=AccountState.WARMING,
        state_changed_at=timezone.now(),
    )
    AccountEvent.objects.create(
        account=account,
        from_state="",
        to_state=AccountState.WARMING,
        actor=actor,
        actor_label=actor_label(actor),
        reason="Added by hand",
    )
    return account
