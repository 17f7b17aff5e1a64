"""The finance home panel for the admin index: ``{% load finance_panel %}{% finance_panel %}``.

The money position first: total held, monthly burn, the wallets that run out soonest,
past-due leases and what they owe, and when the ledger was last reconciled and whether
it was clean; then revenue. Live money only: sandbox wallets (test mode) are left out.
Renders nothing for staff without ``billing.view_wallet``
(Ops), so it can sit on the shared index page. A fixed number of queries: the lease
usage of every wallet's organization is read in one.
"""

from django import template
from django.db.models import Count, Q, Sum
from django.utils import timezone

from billing.reconciliation import reconciliation_last
from billing.selectors import live_wallets, revenue_by_month
from billing.usage import lease_usage, runway_days

register = template.Library()

SOONEST = 5  # wallets listed under "runs out soonest"


@register.inclusion_tag("admin/billing/finance_panel.html", takes_context=True)
def finance_panel(context):
    request = context.get("request")
    if request is None or not request.user.has_perm("billing.view_wallet"):
        return {"show": False}
    wallets = live_wallets().aggregate(
        count=Count("pk"),
        held=Sum("balance_cents", default=0),
        empty=Count("pk", filter=Q(balance_cents=0)),
    )
    rows = list(live_wallets().select_related("organization"))
    usage = lease_usage(wallet.organization_id for wallet in rows)
    now = timezone.now()
    burn = past_due = past_due_cents = 0
    running_out = []
    for wallet in rows:
        used = usage[wallet.organization_id]
        burn += used.monthly_burn_cents
        past_due += used.past_due_leases
        past_due_cents += used.past_due_cents
        days = runway_days(balance_cents=wallet.balance_cents, usage=used, now=now)
        if days is not None:
            running_out.append((days, wallet.organization.name, wallet, used))
    running_out.sort(key=lambda row: (row[0], row[1]))
    last, this = revenue_by_month(months=2)
    return {
        "show": True,
        "wallets": wallets,
        "burn_cents": burn,
        "past_due": past_due,
        "past_due_cents": past_due_cents,
        "running_out": [
            {"days": days, "wallet": wallet, "usage": used}
            for days, _, wallet, used in running_out[:SOONEST]
        ],
        "reconciled": reconciliation_last(),
        "this_month": this,
        "last_month": last,
        "can_move_money": request.user.has_perm("billing.move_money"),
    }
