from django.core.management.base import BaseCommand, CommandError

from billing.selectors import ledger_verify


class Command(BaseCommand):
    help = "Check every account's stored balance equals the sum of its entries."

    def handle(self, *args, **options):
        mismatches = ledger_verify()
        for m in mismatches:
            self.stderr.write(
                f"{m.account}: stored {m.stored_cents} cents, entries sum to {m.entries_cents}"
            )
        if mismatches:
            raise CommandError(f"{len(mismatches)} account(s) do not match their entries.")
        self.stdout.write("Ledger OK: every balance equals the sum of its entries.")
