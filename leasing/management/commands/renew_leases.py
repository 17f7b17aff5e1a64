import time
from datetime import UTC

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from layers_ops.grammar import DIGITS_RULE, GrammarError, timestamp, whole_number
from leasing.services import RenewalSummary, leases_renew


def dollars(cents: int) -> str:
    return f"{cents / 100:,.2f} USD"


class Command(BaseCommand):
    help = (
        "Charge every lease due now (or at --at) for each period it owes, at most once per "
        "lease and period, however often or concurrently it runs. Leases a wallet cannot "
        "pay go past due; past RENEWAL_GRACE_DAYS they are disconnected. Run it from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--at",
            help="Renew as of this RFC 3339 time (or date, midnight UTC) instead of now, "
            "e.g. 2026-03-01T00:00:00Z.",
        )
        parser.add_argument("--batch-size", default="1000", help="Leases per transaction (1000).")

    def handle(self, *args, **options):
        try:
            at = timestamp(options["at"]) if options["at"] is not None else timezone.now()
        except GrammarError as refused:
            raise CommandError(f"--at {refused}") from None
        try:
            batch_size = whole_number(str(options["batch_size"]), minimum=1)
        except GrammarError:
            raise CommandError(
                f"--batch-size must be a whole number of at least 1 ({DIGITS_RULE})."
            ) from None
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
            at=at, batch_size=batch_size, progress=progress if show_progress else None
        )
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"Renewals as of {at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}: "
                f"{summary.renewed} renewed ({summary.periods_charged} period(s), "
                f"{dollars(summary.charged_cents)} charged), {summary.past_due} past due, "
                f"{summary.disconnected} disconnected, in {time.monotonic() - started:.1f} s."
            )
