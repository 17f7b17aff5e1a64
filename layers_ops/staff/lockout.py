"""django-axes, with one more ceiling: besides the (username, address) pair's limit,
an address that fails too often across *any* usernames is refused as well, so guessing
can't be spread over many names. The pair limit is low (a person mistyping); the
address limit is high (an office shares one address)."""

from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from .requests import client_ip


class StaffLockoutHandler(AxesDatabaseHandler):
    def is_locked(self, request, credentials=None) -> bool:
        locked = super().is_locked(request, credentials) or self.address_failures(request) >= (
            settings.STAFF_LOCKOUT_ADDRESS_FAILURES
        )
        if locked:  # refused before the password was checked: not a wrong password
            request.staff_refused_while_locked = True
        return locked

    @staticmethod
    def address_failures(request) -> int:
        since = timezone.now() - settings.AXES_COOLOFF_TIME
        return (
            AccessAttempt.objects.filter(
                ip_address=client_ip(request), attempt_time__gte=since
            ).aggregate(total=Sum("failures_since_start"))["total"]
            or 0
        )


def lockout_response(request, original_response=None, credentials=None):
    """The page a locked-out sign-in gets (429): that it is locked, and for how long."""
    from django.contrib import admin
    from django.shortcuts import render

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(
        request,
        "admin/staff/locked_out.html",
        {
            **admin.site.each_context(request),
            "available_apps": [],
            "is_nav_sidebar_enabled": False,
            "title": "Sign-in locked",
            "minutes": minutes,
        },
        status=429,
    )
