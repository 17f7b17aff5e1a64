"""Partner API views of the wallet: validate, call one selector, render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from layers_ops.api.exceptions import NotFound, ValidationFailed
from layers_ops.api.fields import validated
from layers_ops.api.idempotency import idempotent
from layers_ops.api.pagination import paginate
from layers_ops.api.permissions import ANY_KEY
from layers_ops.api.schema import error_responses, idempotency_key_header, page_parameters
from layers_ops.api.views import PartnerAPIView
from layers_ops.partners.models import Scope

from .models import TransactionKind
from .selectors import MonthNotValid, billing_month_parse, statement_for
from .serializers import (
    LedgerEntryOut,
    LedgerEntryPage,
    SandboxTopUpIn,
    WalletOut,
    WalletStatementOut,
)
from .services.sandbox import sandbox_top_up
from .wallet import wallet_entries, wallet_summary

READ = {"GET": Scope.BILLING_READ}

ledger_parameters = [
    OpenApiParameter(
        "kind", str, enum=TransactionKind.values, description="Only entries of this kind."
    ),
    OpenApiParameter(
        "since",
        OpenApiTypes.DATETIME,
        description=(
            "Entries at or after this RFC 3339 time (with its offset, at most 6 fractional "
            "digits) or date: midnight America/Los_Angeles, where billing months start."
        ),
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.DATETIME,
        description=(
            "Entries before this RFC 3339 time or date (a date is midnight "
            "America/Los_Angeles). `since=2026-10-01&until=2026-11-01` is October's statement."
        ),
    ),
]

# A month the path can hold: 2000-01 to 2099-12. The server also refuses future months.
MONTH_PATTERN = "^20[0-9]{2}-(0[1-9]|1[0-2])$"


class WalletView(PartnerAPIView):
    """The organization's wallet: balance, monthly burn and runway."""

    required_scopes = READ

    @extend_schema(
        operation_id="getWallet",
        summary="Get your wallet",
        description=(
            "The prepaid balance in US cents, the leases running on it and what they cost "
            "a month, how many account-months the balance covers, and the runway in days."
        ),
        responses={200: WalletOut, **error_responses(401, 403, 429)},
        tags=["Wallet"],
    )
    def get(self, request):
        summary = wallet_summary(organization_id=request.auth.organization_id)
        return Response(WalletOut(summary).data)


class WalletLedgerView(PartnerAPIView):
    """The wallet's ledger entries, newest first."""

    required_scopes = READ

    @extend_schema(
        operation_id="listWalletLedger",
        summary="List your wallet's ledger entries",
        description=(
            "Every movement of your wallet, newest first: top-ups, lease charges and "
            "renewals, adjustments and reversals. Filter with `kind`, `since` and `until`."
        ),
        parameters=[*ledger_parameters, *page_parameters],
        responses={200: LedgerEntryPage, **error_responses(401, 403, 422, 429)},
        tags=["Wallet"],
    )
    def get(self, request):
        params = request.query_params
        entries = wallet_entries(
            organization_id=request.auth.organization_id,
            kind=params.get("kind"),
            since=params.get("since"),
            until=params.get("until"),
        )
        return Response(
            paginate(
                entries,
                params,
                lambda entry: LedgerEntryOut(entry).data,
                keys=("created_at", "public_id"),
            )
        )


class WalletStatementView(PartnerAPIView):
    """The wallet's statement for one billing month (America/Los_Angeles)."""

    required_scopes = READ

    @extend_schema(
        operation_id="getWalletStatement",
        summary="Get your wallet's statement for a month",
        description=(
            "The month as Layers finance sees it: the balance when it opened and closed, "
            "the totals of top-ups, first-month charges, renewals, refunds and adjustments, "
            "and every wallet entry behind them, oldest first. Billing months are calendar "
            "months in **America/Los_Angeles**: October runs from 2026-10-01 00:00 PDT "
            "(`2026-10-01T07:00:00Z`) up to 2026-11-01 00:00 PDT (`2026-11-01T07:00:00Z`), "
            "so a top-up at 20:00 on October 31 in Los Angeles is October's although its "
            "`createdAt` (UTC) reads November 1. The current month is its statement so "
            "far; a month before your organization existed is all zeros; a future month "
            "is 422."
        ),
        parameters=[
            OpenApiParameter(
                "month",
                {"type": "string", "pattern": MONTH_PATTERN},
                OpenApiParameter.PATH,
                description="YYYY-MM, from 2000-01 to the current month in Los Angeles.",
            )
        ],
        responses={200: WalletStatementOut, **error_responses(401, 403, 422, 429)},
        tags=["Wallet"],
    )
    def get(self, request, month):
        try:
            year, number = billing_month_parse(month)
        except MonthNotValid as exc:
            detail = {"field": "month", "message": str(exc)}
            raise ValidationFailed(str(exc), details=[detail]) from None
        statement = statement_for(organization=request.auth.organization, year=year, month=number)
        return Response(WalletStatementOut(statement).data)


class SandboxTopUpView(PartnerAPIView):
    """Test mode only: add test money to the sandbox wallet."""

    required_scopes = {"POST": ANY_KEY}

    @extend_schema(
        operation_id="sandboxTopUp",
        summary="Top up your sandbox wallet (test keys only)",
        description=(
            "Adds `amountCents` of test money to the sandbox wallet of an `lp_test_` key's "
            "organization, as a `funding` ledger entry, and returns the wallet. A live key "
            "gets 404: the endpoint does not exist in live mode. The same `Idempotency-Key` "
            "and body replay the first answer for 24 hours."
        ),
        request=SandboxTopUpIn,
        parameters=[idempotency_key_header],
        responses={200: WalletOut, **error_responses(401, 404, 422, 429)},
        tags=["Wallet"],
    )
    @idempotent
    def post(self, request):
        organization = request.auth.organization
        if not organization.is_test:
            raise NotFound("Sandbox top-ups exist in test mode only: use an lp_test_ key.")
        payload = validated(SandboxTopUpIn, request.data)
        sandbox_top_up(organization=organization, amount_cents=payload["amountCents"])
        summary = wallet_summary(organization_id=organization.pk)
        return Response(WalletOut(summary).data)
