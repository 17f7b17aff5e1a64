import sys
import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.money import dollars
from layers_ops.grammar import DIGITS_RULE, GrammarError, timestamp, whole_number
from leasing.selectors import RenewalPreview, renewals_preview
from leasing.services.renewals import (
    RENEWAL_AHEAD_MAX,
    RENEWAL_AHEAD_SLACK,
    RenewalRefused,
    RenewalSummary,
    leases_renew,
    renewal_time_check,
)


def stamp(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


class Command(BaseCommand):
    help = (
        "Charge every lease due now (or at --at) for each period it owes, at most once per "
        "lease and period, however often or concurrently it runs. Leases a wallet cannot "
        "pay go past due; past RENEWAL_GRACE_DAYS they are disconnected. Run it from cron."
    )
    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument(
            "--at",
            help=(
                "Renew as of this RFC 3339 time (or date, midnight UTC) instead of now, "
                "e.g. 2026-03-01T00:00:00Z. "
                "At most a day ahead of now unless --allow-future."
            ),
        )
        parser.add_argument(
            "--allow-future",
            action="store_true",
            help=(
                "Allow --at more than a day (at most a year) ahead: charges months that have "
                "not started. Shows what it will charge and asks to confirm (or --yes)."
            ),
        )
        parser.add_argument(
            "--yes",
            action="store_true",
            help="Confirm --allow-future without being asked (needed without a terminal).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help=(
                "Print what would be renewed, charged, left past due and disconnected, in "
                "total and per organization, and change nothing."
            ),
        )
        parser.add_argument("--batch-size", default="1000", help="Leases per transaction (1000).")

    def handle(self, *args, **options):
        now = timezone.now()
        try:
            at = timestamp(options["at"]) if options["at"] is not None else now
        except GrammarError as refused:
            raise CommandError(f"--at {refused}") from None
        try:
            batch_size = whole_number(str(options["batch_size"]), minimum=1)
        except GrammarError:
            raise CommandError(
                f"--batch-size must be a whole number of at least 1 ({DIGITS_RULE})."
            ) from None
        ahead = at > now + RENEWAL_AHEAD_SLACK
        try:
            # A dry run changes nothing, so it may look ahead without --allow-future.
            renewal_time_check(
                at=at, now=now, allow_future=options["allow_future"] or options["dry_run"]
            )
        except RenewalRefused as refused:
            hint = (
                ""
                if at > now + RENEWAL_AHEAD_MAX
                else " Add --allow-future to do that, or --dry-run to see what it would do."
            )
            raise CommandError(f"--at {refused}{hint}") from None

        if options["dry_run"]:
            preview = renewals_preview(at=at, now=now)
            self._print_preview(preview, heading="Dry run, nothing changed")
            return
        if ahead and not options["yes"]:
            self._confirm(at, now, options.get("stdin") or sys.stdin)

        started = time.monotonic()
        show_progress = options["verbosity"] >= 2 or (
            options["verbosity"] >= 1 and self.stderr.isatty()
        )

        def progress(summary: RenewalSummary) -> None:
            self.stderr.write(
                f"batch {summary.batches}: {summary.leases_claimed} leases, "
                f"{summary.renewed} renewed, {summary.past_due} past due, "
                f"{summary.disconnected} disconnected, {dollars(summary.charged_cents)} "
                f"charged ({time.monotonic() - started:.1f} s)"
            )

        summary = leases_renew(
            at=at,
            batch_size=batch_size,
            progress=progress if show_progress else None,
            allow_future=ahead,
        )
        if options["verbosity"] >= 1:
            unpaid_ahead = (
                f", {summary.unpaid_ahead} not paid ahead (still current)"
                if summary.unpaid_ahead
                else ""
            )
            self.stdout.write(
                f"Renewals as of {stamp(at)}: "
                f"{summary.renewed} renewed ({summary.periods_charged} period(s), "
                f"{dollars(summary.charged_cents)} charged), {summary.past_due} past due, "
                f"{summary.disconnected} disconnected{unpaid_ahead}, "
                f"in {time.monotonic() - started:.1f} s."
            )

    def _confirm(self, at: datetime, now: datetime, stdin) -> None:
        """A run ahead of now: say what it will charge, and go on only on a typed yes."""
        if not stdin.isatty():
            raise CommandError(
                f"--at {stamp(at)} is ahead of now and there is no terminal to confirm on: "
                "run with --dry-run to see what it would charge, then add --yes."
            )
        preview = renewals_preview(at=at, now=now)
        self._print_preview(preview, heading="This run will")
        self.stdout.write(
            f"Charge {dollars(preview.total('charged_cents'))} in advance, as of {stamp(at)}? "
            "Type yes to go on: ",
            ending="",
        )
        self.stdout.flush()
        if stdin.readline().strip().lower() != "yes":
            raise CommandError("Not confirmed: nothing was renewed or charged.")

    def _print_preview(self, preview: RenewalPreview, *, heading: str) -> None:
        total = preview.total
        unpaid_ahead = total("unpaid_ahead")
        self.stdout.write(
            f"{heading}: renewals as of {stamp(preview.at)}: {total('renewed')} renewed "
            f"({total('periods_charged')} period(s), {dollars(total('charged_cents'))} "
            f"charged), {total('past_due')} past due, {total('disconnected')} disconnected"
            + (f", {unpaid_ahead} not paid ahead (still current)" if unpaid_ahead else "")
            + f", over {len(preview.organizations)} organization(s)."
        )
        for row in preview.organizations:
            self.stdout.write(
                f"  {row.name} ({row.organization_id}): {dollars(row.charged_cents)} charged "
                f"for {row.periods_charged} period(s), wallet {dollars(row.wallet_cents)} -> "
                f"{dollars(row.wallet_cents - row.charged_cents)}; {row.renewed} renewed, "
                f"{row.past_due} past due, {row.disconnected} disconnected"
                + (f", {row.unpaid_ahead} not paid ahead" if row.unpaid_ahead else "")
            )
