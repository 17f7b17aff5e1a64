"""Partner API views of the wallet: validate, call one selector, render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from layers_ops.api.pagination import paginate
from layers_ops.api.schema import error_responses, page_parameters
from layers_ops.api.views import PartnerAPIView
from layers_ops.partners.models import Scope

from .models import TransactionKind
from .serializers import LedgerEntryOut, LedgerEntryPage, WalletOut
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
            "Entries at or after this RFC 3339 time, with its offset and at most 6 fractional "
            "digits, or date (midnight UTC)."
        ),
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.DATETIME,
        description=(
            "Entries before this RFC 3339 time, with its offset and at most 6 fractional "
            "digits, or date (midnight UTC)."
        ),
    ),
]


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
