from django.core.management.base import BaseCommand, CommandError

from layers_ops.grammar import GrammarError, whole_number
from leasing.services.allocation import allocation_assign, allocation_pick_best
from leasing.services.errors import LeasingError

from ._requests import actor_find, add_request_arguments, request_find, request_json


class Command(BaseCommand):
    help = (
        "Assign ready accounts to an open lease request, lease them and charge the first "
        "month (one transaction): the best-ranked N with --count, or the given --accounts. "
        "Prints {requestId, status, assignedSocialAccountIds}; exits 1 with the reason if "
        "refused (nothing changes then)."
    )

    def add_arguments(self, parser):
        add_request_arguments(parser)
        choice = parser.add_mutually_exclusive_group(required=True)
        choice.add_argument("--count", help="Assign the N best-fitting accounts.")
        choice.add_argument(
            "--accounts", nargs="+", metavar="SA_ID", help="Assign exactly these accounts."
        )
        parser.add_argument("--actor", help="Username recorded as the allocating staff.")
        parser.add_argument(
            "--take-over",
            action="store_true",
            help="Work it even if someone else claimed it (an internal note records it).",
        )
        parser.add_argument(
            "--accept-poor-fit",
            action="store_true",
            help="Assign accounts that do not match the language/geo asked.",
        )

    def handle(self, *args, **options):
        count = None
        if options["count"] is not None:
            try:
                count = whole_number(str(options["count"]))
            except GrammarError as refused:
                raise CommandError(f"--count {refused}") from None
        lease_request = request_find(options["request_id"], options["org"])
        actor = actor_find(options["actor"])
        rules = {"take_over": options["take_over"], "allow_poor_fit": options["accept_poor_fit"]}
        try:
            if options["accounts"]:
                allocation = allocation_assign(
                    lease_request=lease_request, accounts=options["accounts"], actor=actor, **rules
                )
            else:
                allocation = allocation_pick_best(
                    lease_request=lease_request, count=count, actor=actor, **rules
                )
        except LeasingError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(request_json(allocation.lease_request))
