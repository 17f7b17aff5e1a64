"""Every state change of staff sign-in: invitations, second factors, unlocks,
deactivation, and the record of each. Views and commands call these and nothing else.

A service that changes a user runs in one transaction with its record in the sign-in
log, so there is no change without its line and no line without its change.
"""

from dataclasses import dataclass

from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_otp import match_token
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from .models import SignInEvent, SignInEventKind

BACKUP_CODES = 10
APP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"


class StaffError(Exception):
    """A staff change that cannot be made; the message says why, for a person."""


def sign_in_event_record(
    *, kind: str, username: str, ip_address: str | None = None, actor="", detail=""
) -> SignInEvent:
    return SignInEvent.objects.create(
        kind=kind,
        username=(username or "")[:150],
        ip_address=ip_address or None,
        actor=str(actor or "")[:150],
        detail=(detail or "")[:300],
    )


# Invitations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Invitation:
    user: object
    path: str  # the one-time set-up page, to put after the site's address


def staff_setup_path(*, user) -> str:
    """The one-time page where ``user`` chooses a password (then enrols a second factor).

    Django's password-reset token: it dies when the password is set (the token hashes
    the password) and after PASSWORD_RESET_TIMEOUT seconds, whichever comes first."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return reverse("admin:staff_welcome", args=[uid, token])


@transaction.atomic
def staff_invite(
    *, username: str, group_name: str, email: str = "", actor: str = "system"
) -> Invitation:
    """A new staff user in ``group_name`` with no usable password, and the one-time link
    that lets them choose one. Nobody ever sees or sends a password."""
    User = get_user_model()
    username = username.strip()
    if not username:
        raise StaffError("A username is required.")
    if User.objects.filter(username__iexact=username).exists():
        raise StaffError(
            f"A user named {username!r} exists already; issue a new link with --new-link."
        )
    group = Group.objects.filter(name=group_name).first()
    if group is None:
        raise StaffError(f"There is no {group_name!r} group (run migrate first).")
    user = User(username=username, email=email, is_staff=True)
    user.set_unusable_password()
    user.full_clean(exclude=["password"])
    user.save()
    user.groups.add(group)
    sign_in_event_record(
        kind=SignInEventKind.INVITED, username=username, actor=actor, detail=group_name
    )
    return Invitation(user=user, path=staff_setup_path(user=user))


@transaction.atomic
def staff_reinvite(*, username: str, actor: str = "system") -> Invitation:
    """A new set-up link for an existing staff user who has not signed in yet or lost
    their second factor: their password is made unusable and their factors removed, so
    the old password and codes stop working at once."""
    user = _staff_user(username)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    TOTPDevice.objects.filter(user=user).delete()
    StaticDevice.objects.filter(user=user).delete()
    sign_in_event_record(
        kind=SignInEventKind.INVITED, username=user.username, actor=actor, detail="new link"
    )
    return Invitation(user=user, path=staff_setup_path(user=user))


@transaction.atomic
def staff_deactivate(*, username: str, actor: str = "system"):
    """The user can no longer sign in, and every session they hold ends on its next
    request (Django refuses an inactive user's session)."""
    user = _staff_user(username)
    if not user.is_active:
        raise StaffError(f"{user.username} is already deactivated.")
    user.is_active = False
    user.save(update_fields=["is_active"])
    sign_in_event_record(kind=SignInEventKind.DEACTIVATED, username=user.username, actor=actor)
    return user


@transaction.atomic
def staff_unlock(*, username: str, actor: str = "system") -> int:
    """Lift a lockout on ``username`` (every address it was locked from); the number of
    lockout records cleared."""
    cleared = axes_reset(username=username)
    sign_in_event_record(
        kind=SignInEventKind.UNLOCKED, username=username, actor=actor, detail=f"{cleared} cleared"
    )
    return cleared


def _staff_user(username: str):
    user = get_user_model().objects.filter(username=username, is_staff=True).first()
    if user is None:
        raise StaffError(f"There is no staff user named {username!r}.")
    return user


# Second factors -------------------------------------------------------------------------


def has_second_factor(user) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def totp_device_pending(*, user) -> TOTPDevice:
    """The authenticator app being enrolled: the same secret until it is confirmed, so
    reloading the page does not invalidate the QR code already scanned."""
    if has_second_factor(user):
        raise StaffError("A second factor is enrolled already.")
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("pk").first()
    return device or TOTPDevice.objects.create(user=user, name=APP_DEVICE_NAME, confirmed=False)


@transaction.atomic
def totp_enrol_confirm(*, user, token: str, ip_address: str | None = None):
    """Confirms the pending authenticator with a code it shows, and issues the backup
    codes. Returns ``(device, codes)``; the codes are shown once and never again."""
    if has_second_factor(user):
        raise StaffError("A second factor is enrolled already.")
    device = (
        TOTPDevice.objects.select_for_update()
        .filter(user=user, confirmed=False)
        .order_by("pk")
        .first()
    )
    if device is None:
        raise StaffError("Start again: scan the QR code on the enrolment page.")
    if not device.verify_token(_digits(token)):
        raise StaffError("That code is not the one your app shows now. Try the next one.")
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    StaticDevice.objects.filter(user=user).delete()
    backup = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODES)]
    StaticToken.objects.bulk_create(StaticToken(device=backup, token=code) for code in codes)
    sign_in_event_record(
        kind=SignInEventKind.FACTOR_ENROLLED, username=user.username, ip_address=ip_address
    )
    return device, codes


def second_factor_check(*, user, token: str, ip_address: str | None = None):
    """The device that accepts ``token`` (an app code, or a backup code, which then stops
    working), or None. Every answer is recorded; the devices throttle repeated failures."""
    device = match_token(user, _digits(token) or token.strip())
    sign_in_event_record(
        kind=SignInEventKind.VERIFIED if device else SignInEventKind.FACTOR_FAILED,
        username=user.username,
        ip_address=ip_address,
        detail=device.name if device else "",
    )
    return device


def _digits(token: str) -> str:
    """An app code as people type it: '123 456' and '123-456' are 123456."""
    cleaned = "".join(token.split()).replace("-", "")
    return cleaned if cleaned.isascii() and cleaned.isdigit() else ""
