"""The sign-in record, fed by Django's and django-axes' own signals: the only hooks
that see every password attempt, whichever form or backend made it."""

from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver
from django.utils import timezone

from .models import SignInEventKind
from .requests import client_ip
from .services import sign_in_event_record

SIGNED_IN_AT = "staff_signed_in_at"  # session keys: when the password step passed,
SEEN_AT = "staff_seen_at"  # and (to the minute) when the session last made a request


@receiver(user_logged_in, dispatch_uid="staff.signed_in")
def _signed_in(sender, request, user, **kwargs):
    if request is None:
        return
    request.session[SIGNED_IN_AT] = request.session[SEEN_AT] = timezone.now().timestamp()
    sign_in_event_record(
        kind=SignInEventKind.SIGNED_IN, username=user.get_username(), ip_address=client_ip(request)
    )


@receiver(user_login_failed, dispatch_uid="staff.failed")
def _failed(sender, credentials, request=None, **kwargs):
    if request is None or getattr(request, "staff_refused_while_locked", False):
        return  # a refused attempt is recorded as a lockout (below), not as a wrong password
    sign_in_event_record(
        kind=SignInEventKind.FAILED,
        username=credentials.get("username", ""),
        ip_address=client_ip(request),
    )


@receiver(user_logged_out, dispatch_uid="staff.signed_out")
def _signed_out(sender, request, user, **kwargs):
    if request is None or user is None:
        return
    sign_in_event_record(
        kind=SignInEventKind.SIGNED_OUT, username=user.get_username(), ip_address=client_ip(request)
    )


@receiver(user_locked_out, dispatch_uid="staff.locked_out")
def _locked_out(sender, request, username=None, ip_address=None, **kwargs):
    sign_in_event_record(
        kind=SignInEventKind.LOCKED_OUT, username=username or "", ip_address=ip_address
    )
