from django.core.management.base import BaseCommand, CommandError

from leasing.models import RequestStatus
from leasing.services.errors import LeasingError
from leasing.services.requests import request_close

from ._requests import actor_find, add_request_arguments, request_find, request_json


class Command(BaseCommand):
    help = (
        "Close an open lease request as partial (some accounts assigned) or rejected (none), "
        "with a note saying why. Prints {requestId, status, assignedSocialAccountIds}; exits "
        "1 with the reason if refused."
    )

    def add_arguments(self, parser):
        add_request_arguments(parser)
        outcome = parser.add_mutually_exclusive_group(required=True)
        outcome.add_argument("--partial", action="store_true", help="Close with what is assigned.")
        outcome.add_argument("--reject", action="store_true", help="Close with nothing assigned.")
        parser.add_argument("--note", required=True, help="Why (required).")
        parser.add_argument(
            "--partner-visible",
            action="store_true",
            help="Show the note to the partner as the request's note (default: internal).",
        )
        parser.add_argument(
            "--actor",
            help="Username of the staff member closing it; without it the note is the system's.",
        )

        parser.add_argument(
            "--take-over",
            action="store_true",
            help="Close it even if someone else claimed it (an internal note records it).",
        )

    def handle(self, *args, **options):
        lease_request = request_find(options["request_id"], options["org"])
        actor = actor_find(options["actor"])
        try:
            lease_request = request_close(
                lease_request=lease_request,
                outcome=RequestStatus.PARTIAL if options["partial"] else RequestStatus.REJECTED,
                note=options["note"],
                partner_visible=options["partner_visible"],
                actor=actor,
                take_over=options["take_over"],
            )
        except LeasingError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(request_json(lease_request))
