"""Load hand-warmed accounts from a CSV file into a pool (see ``leasing.intake``).

The file is streamed (``rows_iter``), so memory does not grow with its size beyond the
handles seen; only the first 20 added and updated rows are kept unless ``-v 2``.
"""

import io
import sys
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leasing.intake import accounts_import
from leasing.intake_parsing import IntakeError, rows_iter
from leasing.models import AccountState

LISTED = 20  # added/updated rows listed at the default verbosity; -v 2 lists them all


def _geos(geos) -> str:
    return ", ".join(geos) if geos else "-"


class Command(BaseCommand):
    help = (
        "Add or update warmed TikTok accounts from a CSV file (columns handle,followers[,geo], "
        "geo as US|CA) in a pool, created if new. A file with any refused row changes "
        "nothing unless --skip-invalid."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="CSV file, or - for standard input.")
        parser.add_argument("--pool", required=True, help="Pool name (created if new).")
        parser.add_argument("--verticals", help="Pool verticals, comma-separated: coffee,food.")
        parser.add_argument("--language", help="Pool language, a BCP-47 tag: en, pt-BR.")
        parser.add_argument("--geo", help="Pool geos, ISO 3166-1 alpha-2 codes: US,CA.")
        parser.add_argument(
            "--state",
            choices=[AccountState.READY, AccountState.WARMING],
            default=AccountState.READY,
            help="State of the new accounts (default ready).",
        )
        parser.add_argument(
            "--skip-invalid",
            action="store_true",
            help="Import the good rows and report the refused ones, instead of refusing the file.",
        )

    def handle(self, *args, **options):
        path = options["file"]
        try:
            with self._lines(path) as (name, lines):
                report = self._import(name, lines, options)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        self._print(report, options["verbosity"])
        if report.refused_whole_file:
            raise CommandError(
                f"{len(report.refused)} row(s) refused, so nothing was imported. Fix them, or "
                "pass --skip-invalid to import the other rows."
            )

    def _import(self, name, lines, options):
        try:
            return accounts_import(
                rows=rows_iter(lines),
                pool_name=options["pool"],
                verticals=options["verticals"],
                language=options["language"],
                geos=options["geo"],
                state=options["state"],
                skip_invalid=options["skip_invalid"],
                actor=None,
                file_name=name,
                listed=None if options["verbosity"] >= 2 else LISTED,
            )
        except IntakeError as exc:
            raise CommandError(f"{exc} Nothing was imported.") from None

    @contextmanager
    def _lines(self, path: str):
        """The file (or standard input) as text lines, read as they are needed."""
        if path == "-":
            stdin = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
            try:
                yield "stdin", stdin
            finally:
                stdin.detach()
            return
        with open(path, encoding="utf-8-sig", newline="") as lines:
            yield Path(path).name, lines

    def _print(self, report, verbosity: int) -> None:
        out = self.stdout
        if report.pool_created:
            out.write(f"New pool {report.pool_name!r}.")
        else:
            out.write(f"Pool {report.pool_name!r}.")
        would = "" if report.written else "Would have "
        self._list(
            f"{would}{'added' if would else 'Added'} {report.added_count:,} {report.state} "
            "account(s)",
            report.added,
            report.added_count,
            verbosity,
            self._added,
        )
        self._list(
            f"{would}{'updated' if would else 'Updated'} {report.updated_count:,} account(s)",
            report.updated,
            report.updated_count,
            verbosity,
            self._updated,
        )
        out.write(f"Refused {len(report.refused):,} row(s){':' if report.refused else '.'}")
        for refusal in report.refused:
            handle = refusal.handle or "(no handle)"
            out.write(f"  line {refusal.line}: {handle}: {refusal.reason}")
        if report.written:
            out.write(self.style.SUCCESS(f"Done: recorded as import {report.record.pk}."))

    def _list(self, title, items, count, verbosity, line) -> None:
        self.stdout.write(f"{title}{':' if count and verbosity else '.'}")
        if not verbosity:
            return
        for item in items:
            self.stdout.write("  " + line(item))
        if len(items) < count:
            self.stdout.write(f"  ... and {count - len(items):,} more (-v 2 lists them all)")

    @staticmethod
    def _added(item) -> str:
        geos = _geos(item.geos)
        return f"line {item.line}: @{item.handle}, {item.followers:,} followers, geos {geos}"

    @staticmethod
    def _updated(item) -> str:
        moved = f", moved from pool {item.pool_before!r}" if item.pool_moved else ""
        return (
            f"line {item.line}: @{item.handle} ({item.state}), followers "
            f"{item.followers_before:,} -> {item.followers:,}, geos {_geos(item.geos)}{moved}"
        )
