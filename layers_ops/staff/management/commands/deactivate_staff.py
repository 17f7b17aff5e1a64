from django.core.management.base import BaseCommand, CommandError

from layers_ops.staff.services import StaffError, staff_deactivate


class Command(BaseCommand):
    help = "Stop a staff user signing in; their open sessions end on their next request."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            user = staff_deactivate(username=username, actor="manage.py deactivate_staff")
        except StaffError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Deactivated {user.get_username()}; their sessions are over.")
