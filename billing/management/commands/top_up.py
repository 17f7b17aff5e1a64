import json

from django.core.management.base import BaseCommand, CommandError

from billing.money import MAX_TYPED_CENTS
from billing.selectors import wallet_balance_cents
from billing.services.errors import BillingError
from billing.services.movements import wallet_fund
from billing.services.postings import money_movement_check
from layers_ops.grammar import DIGITS_RULE, GrammarError, whole_number
from layers_ops.partners.models import Organization


class Command(BaseCommand):
    help = (
        "Record money received from a partner: one balanced ledger transaction into the "
        "organization's wallet, by the system. Prints {organizationId, balanceCents}."
    )

    def add_arguments(self, parser):
        parser.add_argument("organization_id", metavar="ORG_ID", help="e.g. org_01HX...")
        parser.add_argument("--cents", help="Amount received, in US cents (positive).")
        parser.add_argument(
            "--memo", help="Internal reason (staff only): e.g. 'Wire received 2026-11-24'."
        )
        parser.add_argument(
            "--description",
            default="",
            help="What the partner sees for it (default 'Wallet top-up').",
        )
        parser.add_argument("--reference", default="", help="Wire or invoice number.")

    def handle(self, *args, **options):
        raw = str(options["cents"] or "")
        if raw.isascii() and raw.isdigit() and len(raw) > len(str(MAX_TYPED_CENTS)):
            # Digits enough to be past any ceiling, and more than int() should be given.
            raise CommandError(
                f"--cents {raw[:20]}… is more than one money movement may be "
                "(MONEY_MOVEMENT_MAX_CENTS). Check the amount."
            )
        try:
            cents = whole_number(raw, minimum=1)
        except GrammarError:
            raise CommandError(
                f"--cents must be a positive whole number of US cents ({DIGITS_RULE})."
            ) from None
        try:
            money_movement_check(amount_cents=cents)
        except BillingError as refused:
            raise CommandError(str(refused)) from None
        memo = (options["memo"] or "").strip()
        if not memo:
            raise CommandError("--memo is required: say what the money is.")
        organization = Organization.objects.filter(pk=options["organization_id"]).first()
        if organization is None:
            raise CommandError(f"No organization {options['organization_id']!r}.")
        try:
            wallet_fund(
                organization=organization,
                amount_cents=cents,
                memo=memo,
                description=options["description"],
                reference=options["reference"].strip(),
            )
        except BillingError as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(
            json.dumps(
                {
                    "organizationId": organization.pk,
                    "balanceCents": wallet_balance_cents(organization_id=organization.pk),
                }
            )
        )
