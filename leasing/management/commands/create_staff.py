from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from layers_ops.staff.services import StaffError, staff_invite, staff_reinvite
from leasing.roles import FINANCE, OPS

ROLES = {"ops": OPS, "finance": FINANCE}


class Command(BaseCommand):
    help = (
        "Create a staff user in the Ops or Finance group and print a one-time link where "
        "they choose their password and set up their second factor. No password is "
        "ever printed. --new-link issues a fresh link to an existing user (their old "
        "password and factors stop working)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=sorted(ROLES), help="ops or finance")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--base-url",
            default=settings.STAFF_BASE_URL,
            help="Where staff reach the admin (default: STAFF_BASE_URL).",
        )
        parser.add_argument("--new-link", action="store_true")

    def handle(self, *args, username, role, email, base_url, new_link, **options):
        try:
            if new_link:
                invitation = staff_reinvite(username=username, actor="manage.py create_staff")
            else:
                if role is None:
                    raise CommandError("--role is required: ops or finance.")
                invitation = staff_invite(
                    username=username,
                    group_name=ROLES[role],
                    email=email,
                    actor="manage.py create_staff",
                )
        except StaffError as exc:
            raise CommandError(str(exc)) from None
        hours = settings.PASSWORD_RESET_TIMEOUT // 3600
        self.stdout.write(
            f"{invitation.user.get_username()}: send them this link (works once, "
            f"for {hours} hours):\n{base_url.rstrip('/')}{invitation.path}"
        )
