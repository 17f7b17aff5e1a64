"""Statements and revenue: a wallet's month (page and CSV) and revenue by month."""

import datetime

from django.core.exceptions import PermissionDenied

from layers_ops.csv_export import csv_response

from ..charts import Series, stacked_bars_svg
from ..selectors import (
    FIRST_BILLING_MONTH,
    MonthNotValid,
    billing_month_current,
    billing_month_parse,
    revenue_by_month,
    statement_for,
)
from .shared import csv_money, csv_times

STATEMENT_CSV_HEADER = [
    "section",
    "time_utc",
    "time_america_los_angeles",
    "transaction_id",
    "memo",
    "reference",
    "actor",
    "amount_cents",
    "amount_usd",
    "balance_after_cents",
    "balance_after_usd",
]


def _statement_rows(statement):
    organization = statement.organization
    no_line = ["", "", "", ""]  # transaction, memo, reference, actor
    no_money = ["", ""]
    yield [
        "Statement",
        "",
        f"{statement.starts_at:%B %Y}, America/Los_Angeles",
        "",
        f"{organization.name} ({organization.pk})",
        *["", "", *no_money, *no_money],
    ]
    opening = csv_money(statement.opening_cents)
    yield ["Opening balance", *csv_times(statement.starts_at), *no_line, *opening, *no_money]
    for section in statement.sections:
        for line in section.lines:
            yield [
                section.heading,
                *csv_times(line.at),
                line.transaction_id,
                line.memo,
                line.reference,
                line.actor,
                *csv_money(line.amount_cents),
                *csv_money(line.balance_after_cents),
            ]
        total = csv_money(section.total_cents)
        yield [f"{section.heading} total", "", "", *no_line, *total, *no_money]
    closing = csv_money(statement.closing_cents)
    yield ["Closing balance", *csv_times(statement.ends_at), *no_line, *closing, *no_money]


class StatementPagesMixin:
    """Mixed into ``WalletAdmin``."""

    def statement_view(self, request, object_id):
        """The wallet's month, on screen or (``?format=csv``) as a download. A month that
        cannot be read, before 2000 or in the future shows the page with the month picker
        and what is wrong (the same rule as the partner's API)."""
        wallet = self._wallet_or_404(request, object_id)
        raw, current = request.GET.get("month", ""), billing_month_current()
        context = {
            "wallet": wallet,
            "original": wallet,
            "month_value": raw,
            "current_month": f"{current[0]}-{current[1]:02d}",
        }
        try:
            year, month = billing_month_parse(raw) if raw else current
        except MonthNotValid as exc:
            return self._render(
                request,
                "admin/billing/wallet/statement.html",
                f"Statement for {wallet.organization}",
                **context,
                month_error=str(exc),
            )
        statement = statement_for(organization=wallet.organization, year=year, month=month)
        if request.GET.get("format") == "csv":
            return csv_response(
                f"statement-{wallet.organization_id}-{year}-{month:02d}.csv",
                STATEMENT_CSV_HEADER,
                _statement_rows(statement),
            )
        label = statement.starts_at.strftime("%B %Y")
        previous = statement.starts_at - datetime.timedelta(days=1)
        following = statement.ends_at
        return self._render(
            request,
            "admin/billing/wallet/statement.html",
            f"Statement for {wallet.organization}, {label}",
            **(context | {"month_value": statement.month_label}),
            statement=statement,
            month_label=label,
            previous_month=(
                f"{previous.year}-{previous.month:02d}"
                if (year, month) > FIRST_BILLING_MONTH
                else None
            ),
            next_month=(
                f"{following.year}-{following.month:02d}" if (year, month) < current else None
            ),
        )

    def revenue_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        months = revenue_by_month(months=12)
        chart = stacked_bars_svg(
            title="Leasing revenue by month: first-month charges and renewals",
            categories=[m.label for m in months],
            series=[
                Series(
                    "first_month",
                    "First-month charges",
                    "#79aec8",
                    [m.first_month_cents for m in months],
                ),
                Series("renewals", "Renewals", "#417690", [m.renewal_cents for m in months]),
            ],
        )
        return self._render(
            request,
            "admin/billing/wallet/revenue.html",
            "Revenue by month",
            months=list(reversed(months)),
            chart=chart,
        )
