"""Wallets: ``WalletAdmin``, the wallet list (balance, burn, runway) and a wallet's page
with its balance chart; its money forms, statement and reconciliation pages are mixed in."""

import datetime

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from layers_ops.partners.admin_filters import TestDataFilter

from ..charts import balance_line_svg
from ..models import Wallet
from ..money import dollars
from ..selectors import (
    balance_history,
)
from ..usage import lease_usage, runway_days
from .money_forms import MoneyFormsMixin
from .reconciliation import ReconciliationPageMixin
from .shared import MOVE_MONEY, ReadOnlyAdmin
from .statements import StatementPagesMixin

# The balance chart's periods: query value -> (label, days back; None for all history).
CHART_PERIODS = {
    "30d": ("30 days", 30),
    "90d": ("90 days", 90),
    "1y": ("12 months", 365),
    "all": ("All history", None),
}


class WalletChangeList(ChangeList):
    """Reads the lease usage of the page's organizations in one call, after the page
    itself, so the list runs a fixed number of queries however many wallets it shows."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        usage = lease_usage(wallet.organization_id for wallet in self.result_list)
        now = timezone.now()
        for wallet in self.result_list:
            wallet.usage = usage[wallet.organization_id]
            wallet.runway = runway_days(
                balance_cents=wallet.balance_cents, usage=wallet.usage, now=now
            )


def _runway_text(days, usage) -> str:
    if days is not None:
        return f"{days} days"
    # runway_days gives None when nothing renews, or when the balance outlasts its horizon.
    return "over 2 years" if usage.renewals else "no renewals due"


@admin.register(Wallet)
class WalletAdmin(MoneyFormsMixin, StatementPagesMixin, ReconciliationPageMixin, ReadOnlyAdmin):
    list_display = [
        "organization",
        "balance",
        "active_leases",
        "monthly_burn",
        "runway",
        "past_due_leases",
        "statement_link",
    ]
    list_select_related = ["organization"]
    list_filter = [TestDataFilter]
    search_fields = ["organization__name", "organization__id"]
    readonly_fields = ["organization", "balance", "currency", "created_at"]
    fields = readonly_fields
    list_per_page = 50

    def get_changelist(self, request, **kwargs):
        return WalletChangeList

    @admin.display(description="balance (USD)", ordering="balance_cents")
    def balance(self, obj):
        return dollars(obj.balance_cents)

    @admin.display(description="active leases")
    def active_leases(self, obj):
        return obj.usage.active_leases

    @admin.display(description="monthly burn")
    def monthly_burn(self, obj):
        return dollars(obj.usage.monthly_burn_cents)

    @admin.display(description="runway")
    def runway(self, obj):
        return _runway_text(obj.runway, obj.usage)

    @admin.display(description="past-due leases")
    def past_due_leases(self, obj):
        count = obj.usage.past_due_leases
        return format_html('<strong style="color:#ba2121">{}</strong>', count) if count else 0

    @admin.display(description="statement")
    def statement_link(self, obj):
        url = reverse("admin:billing_wallet_statement", args=[obj.pk])
        return format_html('<a href="{}">This month</a>', url)

    def get_urls(self):
        def view(func, route, name):
            return path(route, self.admin_site.admin_view(func), name=f"billing_wallet_{name}")

        return [
            view(self.move_money_view, "move-money/", "move_money"),
            view(self.reconciliation_view, "reconciliation/", "reconciliation"),
            view(self.revenue_view, "revenue/", "revenue"),
            view(self.top_up_view, "<path:object_id>/top-up/", "top_up"),
            view(self.adjust_view, "<path:object_id>/adjust/", "adjust"),
            view(self.refund_charges_view, "<path:object_id>/refund/charges/", "refund_charges"),
            view(self.refund_view, "<path:object_id>/refund/", "refund"),
            view(self.void_view, "<path:object_id>/void/<str:transaction_id>/", "void"),
            view(self.statement_view, "<path:object_id>/statement/", "statement"),
            *super().get_urls(),
        ]

    # --- pages ------------------------------------------------------------------------

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_move_money": self._can_move(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        wallet = self.get_object(request, object_id)
        extra = {"can_move_money": self._can_move(request)}
        if wallet is not None:
            usage = lease_usage([wallet.organization_id])[wallet.organization_id]
            period = request.GET.get("chart", "all")
            if period not in CHART_PERIODS:
                period = "all"
            days = CHART_PERIODS[period][1]
            since = timezone.now() - datetime.timedelta(days=days) if days else None
            history = balance_history(wallet=wallet, since=since)
            extra |= {
                "usage": usage,
                "burn": dollars(usage.monthly_burn_cents),
                "runway": _runway_text(
                    runway_days(balance_cents=wallet.balance_cents, usage=usage), usage
                ),
                "balance_chart": balance_line_svg(
                    points=history.points,
                    by_day=history.by_day,
                    title=f"Balance of {wallet.organization} over time",
                ),
                "history": history,
                "chart_period": period,
                "chart_periods": [(key, label) for key, (label, _) in CHART_PERIODS.items()],
                "ledger_url": reverse("admin:billing_ledgerentry_changelist")
                + f"?account__organization__id__exact={wallet.organization_id}",
            }
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), **extra})

    def _can_move(self, request) -> bool:
        return request.user.has_perm(MOVE_MONEY)

    def _render(self, request, template, title, **context):
        return TemplateResponse(
            request,
            template,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "opts": self.opts,
                **context,
            },
        )

    def _wallet_or_404(self, request, object_id, *, move=False) -> Wallet:
        if not self.has_view_permission(request) or (move and not self._can_move(request)):
            raise PermissionDenied
        wallet = self.get_object(request, object_id)
        if wallet is None:
            raise Http404("No such wallet.")
        return wallet
