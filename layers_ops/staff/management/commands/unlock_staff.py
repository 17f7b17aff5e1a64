from django.core.management.base import BaseCommand

from layers_ops.staff.services import staff_unlock


class Command(BaseCommand):
    help = "Lift a sign-in lockout on a username (from every address)."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        cleared = staff_unlock(username=username, actor="manage.py unlock_staff")
        self.stdout.write(f"Unlocked {username} ({cleared} lockout record(s) cleared).")
