from django.core.management.base import BaseCommand, CommandError

from billing.reconciliation import check_names, reconciliation_run


class Command(BaseCommand):
    help = (
        "Run the reconciliation checks (the finance console's Reconciliation page): "
        "exits non-zero naming every broken invariant."
    )

    def handle(self, *args, **options):
        problems = reconciliation_run(source="command")
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            broken = sorted({problem.check for problem in problems})
            raise CommandError(f"{len(problems)} problem(s); broken: {', '.join(broken)}.")
        self.stdout.write(f"Ledger OK: {', '.join(check_names())} — all pass.")
