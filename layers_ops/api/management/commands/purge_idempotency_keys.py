from django.core.management.base import BaseCommand

from layers_ops.api.idempotency import idempotency_keys_purge


class Command(BaseCommand):
    help = "Forget Idempotency-Keys older than 24 hours. Safe to run from cron at any rate."

    def handle(self, *args, **options):
        deleted = idempotency_keys_purge()
        self.stdout.write(f"Purged {deleted} expired idempotency key(s).")
