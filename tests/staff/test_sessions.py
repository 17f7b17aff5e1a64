"""A staff session opens admin pages only when verified, and only while it is fresh."""

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import URLPattern, URLResolver, reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from layers_ops.staff.models import SignInEvent, SignInEventKind
from layers_ops.staff.signals import SEEN_AT, SIGNED_IN_AT
from leasing.roles import OPS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

WALLETS = "/admin/billing/wallet/"
# The door itself: reachable before the second factor, by design.
DOOR = {"login", "logout", "staff_verify", "staff_enrol", "staff_welcome"}


def admin_paths(patterns=None, prefix="/admin/"):
    """Every page of the admin site, with any id in its URL filled in."""
    for pattern in admin.site.get_urls() if patterns is None else patterns:
        route = str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from admin_paths(pattern.url_patterns, prefix + _filled(route))
        elif isinstance(pattern, URLPattern) and pattern.name not in DOOR:
            yield prefix + _filled(route)


def _filled(route: str) -> str:
    route = re.sub(r"<[^>]+>", "1", route)
    return route.lstrip("^").rstrip("$").replace("\\Z", "")


@pytest.fixture
def superuser_with_password_only(client, settings):
    settings.STAFF_2FA_REQUIRED = True
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    client.force_login(user)
    return user


def test_a_password_only_session_opens_no_admin_page(client, superuser_with_password_only):
    paths = sorted(set(admin_paths()))
    assert len(paths) > 40  # the whole site, not a handful

    opened = {}
    for path in paths:
        response = client.get(path)
        if response.status_code != 302 or "/admin/login/" not in response["Location"]:
            opened[path] = response.status_code
    assert opened == {}


def test_a_password_only_session_is_sent_to_the_code_prompt(client, superuser_with_password_only):
    response = client.get(WALLETS, follow=True)

    assert response.redirect_chain[-1][0].startswith(reverse("admin:staff_verify"))
    assert "Enter your sign-in code" in response.content.decode()


def test_without_the_setting_a_password_opens_the_admin(client, settings):
    settings.STAFF_2FA_REQUIRED = False
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))

    assert client.get(WALLETS).status_code == 200


def signed_in_superuser(client):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    assert client.get(WALLETS).status_code == 200
    return user


def age_session(client, **seconds_ago):
    session = client.session
    now = timezone.now().timestamp()
    for key, ago in seconds_ago.items():
        session[key] = now - ago
    session.save()


def test_an_idle_session_ends_after_thirty_minutes(client):
    signed_in_superuser(client)
    age_session(client, **{SEEN_AT: 29 * 60})
    assert client.get(WALLETS).status_code == 200  # active again: the clock restarts

    age_session(client, **{SEEN_AT: 31 * 60})
    response = client.get(WALLETS)

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    expired = SignInEvent.objects.get(kind=SignInEventKind.EXPIRED)
    assert "idle" in expired.detail


def test_a_busy_session_still_ends_twelve_hours_after_sign_in(client):
    signed_in_superuser(client)
    age_session(client, **{SIGNED_IN_AT: 12 * 3600 + 60, SEEN_AT: 10})

    response = client.get(WALLETS)

    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_changing_the_password_signs_out_every_other_session(client):
    user = signed_in_superuser(client)

    user.set_password("a brand new password 1")
    user.save()

    response = client.get(WALLETS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_deactivating_signs_the_user_out_everywhere(client):
    from django.core.management import call_command

    signed_in_superuser(client)

    call_command("deactivate_staff", "root")

    response = client.get(WALLETS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert SignInEvent.objects.filter(kind=SignInEventKind.DEACTIVATED, username="root").exists()


def test_ops_cannot_create_users_of_any_role(client):
    user = UserFactory(username="dana", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS))
    client.force_login(user)

    assert client.get("/admin/auth/user/add/").status_code == 403
    assert client.get("/admin/auth/user/").status_code == 403


def test_only_superusers_read_the_sign_in_record(client):
    user = UserFactory(username="dana", is_staff=True)
    user.groups.add(Group.objects.get(name=OPS))
    client.force_login(user)
    assert client.get("/admin/staff/signinevent/").status_code == 403

    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    page = client.get("/admin/staff/signinevent/")
    assert page.status_code == 200 and "signed in" in page.content.decode()
