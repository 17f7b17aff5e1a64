"""Delete CSV uploads kept for an admin import preview that was never confirmed."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from leasing.intake_uploads import intake_uploads_purge


class Command(BaseCommand):
    help = (
        "Delete stored intake uploads (admin import previews never confirmed) older than "
        "INTAKE_UPLOAD_TTL_MINUTES. Safe to run at any time, from cron or by hand."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            metavar="MINUTES",
            help="Age in minutes (default INTAKE_UPLOAD_TTL_MINUTES).",
        )

    def handle(self, *args, **options):
        minutes = options["older_than"]
        if minutes is None:
            minutes = settings.INTAKE_UPLOAD_TTL_MINUTES
        if minutes < 0:
            raise CommandError("--older-than cannot be negative.")
        try:
            removed = intake_uploads_purge(older_than_seconds=minutes * 60)
        except OSError as exc:
            raise CommandError(
                f"Cannot purge {settings.INTAKE_UPLOAD_DIR}: {exc.strerror}."
            ) from None
        self.stdout.write(f"Deleted {removed} stored upload(s) older than {minutes} minutes.")
