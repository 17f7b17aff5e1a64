"""The finance home panel for the admin index: ``{% load finance_panel %}{% finance_panel %}``.

Renders nothing for staff without ``billing.view_wallet`` (Ops), so it can sit on the
shared index page. Three queries.
"""

from django import template
from django.db.models import Count, Q, Sum

from billing.models import Wallet
from billing.selectors import revenue_by_month

register = template.Library()


@register.inclusion_tag("admin/billing/finance_panel.html", takes_context=True)
def finance_panel(context):
    request = context.get("request")
    if request is None or not request.user.has_perm("billing.view_wallet"):
        return {"show": False}
    wallets = Wallet.objects.aggregate(
        count=Count("pk"),
        held=Sum("balance_cents", default=0),
        empty=Count("pk", filter=Q(balance_cents=0)),
    )
    last, this = revenue_by_month(months=2)
    return {
        "show": True,
        "wallets": wallets,
        "this_month": this,
        "last_month": last,
        "can_move_money": request.user.has_perm("billing.move_money"),
    }
