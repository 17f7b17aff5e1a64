from django.core.management.base import BaseCommand

from layers_ops.staff.once import once_records_purge


class Command(BaseCommand):
    help = (
        "Forget the one-time tokens of admin forms spent more than a day ago (their pages "
        "are refused as stale anyway). Safe to run from cron at any rate."
    )

    def handle(self, *args, **options):
        deleted = once_records_purge()
        self.stdout.write(f"Purged {deleted} spent form token(s).")
