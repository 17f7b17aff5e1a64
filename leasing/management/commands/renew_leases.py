import time
from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from leasing.services import RenewalSummary, leases_renew


def parse_moment(raw: str):
    """An ISO 8601 time (``2026-03-01T09:00:00Z``) or date (midnight UTC); a time without
    an offset is UTC."""
    try:
        moment = parse_datetime(raw)
        if moment is None:
            day = parse_date(raw)
            if day is not None:
                moment = datetime(day.year, day.month, day.day)
        if moment is not None:
            moment = moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)
    except (ValueError, OverflowError):
        moment = None
    if moment is None:
        raise CommandError(f"--at {raw!r} is not an ISO 8601 time, e.g. 2026-03-01T09:00:00Z.")
    return moment


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
            help="Renew as of this ISO 8601 time instead of now, e.g. 2026-03-01T00:00:00Z.",
        )
        parser.add_argument(
            "--batch-size", type=int, default=1000, help="Leases per transaction (1000)."
        )

    def handle(self, *args, **options):
        at = parse_moment(options["at"]) if options["at"] else timezone.now()
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
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
            at=at, batch_size=options["batch_size"], progress=progress if show_progress else None
        )
        if options["verbosity"] >= 1:
            self.stdout.write(
                f"Renewals as of {at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}: "
                f"{summary.renewed} renewed ({summary.periods_charged} period(s), "
                f"{dollars(summary.charged_cents)} charged), {summary.past_due} past due, "
                f"{summary.disconnected} disconnected, in {time.monotonic() - started:.1f} s."
            )
