"""The admin site, gated: a staff user's session opens admin pages only once it is
verified with a second factor (when ``STAFF_2FA_REQUIRED``). The door's own pages, the
one-time set-up link, enrolment and the code prompt, are added here beside the login.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.tokens import default_token_generator
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme, urlsafe_base64_decode
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login

from .forms import CodeForm
from .requests import client_ip
from .services import (
    StaffError,
    has_second_factor,
    second_factor_check,
    totp_device_pending,
    totp_enrol_confirm,
)

door = [never_cache, csrf_protect, sensitive_post_parameters()]


def second_factor_required() -> bool:
    return settings.STAFF_2FA_REQUIRED


class LayersAdminSite(admin.AdminSite):
    site_header = site_title = "Layers ops"
    index_title = "Queue, partners and money"
    site_url = "/docs/"  # "View site" opens the partner API reference
    # The app list beside every page takes a fifth of a 1366-px screen from the lists;
    # the home page and the breadcrumbs lead everywhere it does.
    enable_nav_sidebar = False

    def has_permission(self, request):
        if not super().has_permission(request):
            return False
        return not second_factor_required() or request.user.is_verified()

    def get_urls(self):
        return [
            path("verify/", self.verify_view, name="staff_verify"),
            path("enrol/", self.enrol_view, name="staff_enrol"),
            path("welcome/<uidb64>/<token>/", self.welcome_view, name="staff_welcome"),
            *super().get_urls(),
        ]

    @method_decorator(never_cache)
    def login(self, request, extra_context=None):
        """The password step; a staff user who passed it but not the second factor is
        sent on to the code prompt (or to enrolment, the first time)."""
        if _awaiting_second_factor(request):
            return redirect(_next_step(request))
        return super().login(request, extra_context)

    # --- the second factor -------------------------------------------------------------

    @method_decorator(door)
    def verify_view(self, request):
        if not _awaiting_second_factor(request):
            return redirect(_safe_next(request) or reverse("admin:index"))
        if not has_second_factor(request.user):
            return redirect(_with_next(reverse("admin:staff_enrol"), request))
        form = CodeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            device = second_factor_check(
                user=request.user, token=form.cleaned_data["code"], ip_address=client_ip(request)
            )
            if device is not None:
                otp_login(request, device)
                return redirect(_safe_next(request) or reverse("admin:index"))
            form.add_error(
                "code",
                "That code is not valid. App codes change every 30 seconds; "
                "a backup code works once.",
            )
        return self._door_page(
            request, "admin/staff/verify.html", "Enter your sign-in code", form=form
        )

    @method_decorator(door)
    def enrol_view(self, request):
        if not _awaiting_second_factor(request) and not (
            request.user.is_authenticated and request.user.is_staff
        ):
            return redirect(reverse("admin:login"))
        if has_second_factor(request.user):
            return redirect(_with_next(reverse("admin:staff_verify"), request))
        form = CodeForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                device, codes = totp_enrol_confirm(
                    user=request.user,
                    token=form.cleaned_data["code"],
                    ip_address=client_ip(request),
                )
            except StaffError as exc:
                form.add_error("code", str(exc))
            else:
                otp_login(request, device)
                return self._door_page(
                    request,
                    "admin/staff/backup_codes.html",
                    "Your backup codes",
                    codes=codes,
                    next_url=_safe_next(request) or reverse("admin:index"),
                )
        device = totp_device_pending(user=request.user)
        return self._door_page(
            request,
            "admin/staff/enrol.html",
            "Set up your second factor",
            form=form,
            qr_svg=_qr_svg(device.config_url),
            secret=_base32(device.bin_key),
        )

    # --- the one-time set-up link ------------------------------------------------------

    @method_decorator(door)
    def welcome_view(self, request, uidb64, token):
        user = _user_from_link(uidb64, token)
        if user is None:
            return self._door_page(
                request, "admin/staff/welcome.html", "This link cannot be used", expired=True
            )
        form = SetPasswordForm(user, request.POST or None)
        if request.method == "POST" and form.is_valid():
            form.save()  # the token hashes the password: this link is now spent
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(reverse("admin:staff_enrol"))
        return self._door_page(
            request, "admin/staff/welcome.html", "Choose your password", form=form, staff=user
        )

    def _door_page(self, request, template, title, **context):
        return TemplateResponse(
            request,
            template,
            {
                **self.each_context(request),
                # Nothing of the site shows before the second factor: no app list.
                "available_apps": [],
                "is_nav_sidebar_enabled": False,
                "title": title,
                **context,
            },
        )


def _awaiting_second_factor(request) -> bool:
    user = request.user
    return (
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and second_factor_required()
        and not user.is_verified()
    )


def _next_step(request) -> str:
    step = "admin:staff_verify" if has_second_factor(request.user) else "admin:staff_enrol"
    return _with_next(reverse(step), request)


def _safe_next(request) -> str | None:
    wanted = request.POST.get("next") or request.GET.get("next")
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return None


def _with_next(url: str, request) -> str:
    wanted = _safe_next(request)
    return f"{url}?{urlencode({'next': wanted})}" if wanted else url


def _user_from_link(uidb64: str, token: str):
    try:
        pk = urlsafe_base64_decode(uidb64).decode()
        user = get_user_model().objects.filter(pk=int(pk), is_staff=True, is_active=True).first()
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError):
        return None
    if user is None or not default_token_generator.check_token(user, token):
        return None
    return user


def _qr_svg(text: str) -> str:
    """The QR code an authenticator app scans, as inline SVG (no image is stored)."""
    import qrcode
    import qrcode.image.svg

    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    return image.to_string(encoding="unicode")


def _base32(key: bytes) -> str:
    """The secret as people type it into an app that cannot scan: groups of four."""
    from base64 import b32encode

    text = b32encode(key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))
