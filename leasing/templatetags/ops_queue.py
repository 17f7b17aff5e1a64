"""The ops home panel on the admin index (``templates/admin/index.html``)."""

from django import template
from django.urls import reverse

from ..queue_panel import queue_panel

register = template.Library()


@register.inclusion_tag("admin/leasing/ops_panel.html", takes_context=True)
def ops_queue_panel(context):
    request = context["request"]
    if not request.user.has_perm("leasing.view_leaserequest"):
        return {"show": False}
    queue = reverse("admin:leasing_leaserequest_changelist")
    return {
        "show": True,
        "panel": queue_panel(user=request.user),
        "queue_url": queue,
        "overdue_url": f"{queue}?sla=overdue",
        "unclaimed_url": f"{queue}?claim=unclaimed",
        "mine_url": f"{queue}?claim=mine",
    }
