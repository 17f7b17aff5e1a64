"""The reconciliation page: the ledger's checks (``billing.reconciliation``), run on demand."""

from django.core.exceptions import PermissionDenied
from django.utils import timezone

from ..reconciliation import check_names, reconciliation_run


class ReconciliationPageMixin:
    """Mixed into ``WalletAdmin``."""

    def reconciliation_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        problems = reconciliation_run(source="console", actor_label=request.user.get_username())
        by_check = {name: [p for p in problems if p.check == name] for name in check_names()}
        return self._render(
            request,
            "admin/billing/wallet/reconciliation.html",
            "Reconciliation",
            problems=problems,
            by_check=by_check,
            checked_at=timezone.now(),
        )
