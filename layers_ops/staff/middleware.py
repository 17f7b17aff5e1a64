from django.conf import settings
from django.contrib.auth import logout
from django.utils import timezone

from .models import SignInEventKind
from .requests import client_ip
from .services import sign_in_event_record
from .signals import SEEN_AT, SIGNED_IN_AT

# How stale the "last seen" mark may get before a request rewrites it: an idle limit
# exact to the minute, without writing the session on every page.
SEEN_RESOLUTION_SECONDS = 60


class StaffSessionLifetimeMiddleware:
    """Ends a signed-in session after ``STAFF_SESSION_IDLE_MINUTES`` without a request,
    and ``STAFF_SESSION_MAX_HOURS`` after its password step however active it has been.
    The next page is then the sign-in page; the record says why the session ended."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            self._check(request, user)
        return self.get_response(request)

    def _check(self, request, user) -> None:
        now = timezone.now().timestamp()
        signed_in = request.session.get(SIGNED_IN_AT)
        seen = request.session.get(SEEN_AT, signed_in)
        reason = None
        if signed_in is None or now - signed_in > settings.STAFF_SESSION_MAX_HOURS * 3600:
            reason = f"over {settings.STAFF_SESSION_MAX_HOURS} hours since sign-in"
        elif now - seen > settings.STAFF_SESSION_IDLE_MINUTES * 60:
            reason = f"idle over {settings.STAFF_SESSION_IDLE_MINUTES} minutes"
        if reason is None:
            if now - seen > SEEN_RESOLUTION_SECONDS:
                request.session[SEEN_AT] = now
            return
        username = user.get_username()
        logout(request)
        sign_in_event_record(
            kind=SignInEventKind.EXPIRED,
            username=username,
            ip_address=client_ip(request),
            detail=reason,
        )
