"""The ops home panel and the renewals line on the admin index
(``templates/admin/index.html``)."""

from datetime import timedelta

from django import template
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from ..models import RenewalRun
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


@register.inclusion_tag("admin/leasing/renewals_status.html", takes_context=True)
def renewals_status(context):
    """When renewals last ran, with a warning past ``RENEWALS_LATE_MINUTES``: for ops and
    finance alike (a stopped worker means no revenue after month one)."""
    user = context["request"].user
    if not (user.has_perm("leasing.view_leaserequest") or user.has_perm("billing.view_wallet")):
        return {"show": False}
    last = RenewalRun.objects.order_by("-finished_at").first()
    late_after = timedelta(minutes=settings.RENEWALS_LATE_MINUTES)
    return {
        "show": True,
        "last": last,
        "late": last is None or timezone.now() - last.finished_at > late_after,
        "late_minutes": settings.RENEWALS_LATE_MINUTES,
    }
