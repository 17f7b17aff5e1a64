"""Guessing passwords at the admin's door, through real HTTP (a live server)."""

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest
from django.core.management import call_command

from layers_ops.staff.models import SignInEvent, SignInEventKind
from layers_ops.staff.services import staff_unlock
from tests.factories import UserFactory

PASSWORD = "correct horse battery staple"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def plain_http_cookies(settings):
    """The live server speaks plain HTTP: cookies marked Secure would never come back."""
    settings.CSRF_COOKIE_SECURE = settings.SESSION_COOKIE_SECURE = False


class Browser:
    """A cookie-keeping HTTP client that signs in through the admin's own form."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()),
            _NoRedirect(),
        )

    def get(self, path: str) -> tuple[int, str, dict]:
        return self._open(urllib.request.Request(self.base_url + path))

    def sign_in(self, username: str, password: str) -> tuple[int, str, dict]:
        _, page, _ = self.get("/admin/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token,
                "username": username,
                "password": password,
                "next": "/admin/",
            }
        ).encode()
        request = urllib.request.Request(
            self.base_url + "/admin/login/",
            data=body,
            headers={"Referer": self.base_url + "/admin/login/"},
        )
        return self._open(request)

    def _open(self, request):
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(), dict(error.headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def staff(username: str):
    user = UserFactory(username=username, is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def signed_in(answer) -> bool:
    status, _, headers = answer
    return status == 302 and headers.get("Location", "").startswith("/admin/")


def test_the_sixth_attempt_is_refused_even_with_the_right_password(live_server):
    staff("dana")
    door = Browser(live_server.url)

    for _ in range(4):
        status, page, _ = door.sign_in("dana", "wrong guess")
        assert status == 200 and "Please enter the correct username" in page
    assert door.sign_in("dana", "wrong guess")[0] == 429  # the fifth failure locks

    status, page, _ = door.sign_in("dana", PASSWORD)

    assert status == 429
    assert "locked" in page and "15 minutes" in page
    kinds = list(SignInEvent.objects.filter(username="dana").values_list("kind", flat=True))
    assert kinds.count(SignInEventKind.FAILED) == 5
    assert SignInEventKind.LOCKED_OUT in kinds
    assert SignInEventKind.SIGNED_IN not in kinds


def test_a_colleague_on_the_same_address_keeps_working(live_server):
    staff("dana")
    staff("sam")
    door = Browser(live_server.url)
    for _ in range(6):
        door.sign_in("dana", "wrong guess")

    assert signed_in(Browser(live_server.url).sign_in("sam", PASSWORD))
    assert Browser(live_server.url).sign_in("dana", PASSWORD)[0] == 429


def test_unlocking_lets_the_right_password_in_again(live_server):
    staff("dana")
    for _ in range(6):
        Browser(live_server.url).sign_in("dana", "wrong guess")

    staff_unlock(username="dana", actor="admin")

    assert signed_in(Browser(live_server.url).sign_in("dana", PASSWORD))
    unlocked = SignInEvent.objects.get(kind=SignInEventKind.UNLOCKED)
    assert (unlocked.username, unlocked.actor) == ("dana", "admin")


def test_unlock_command_lifts_the_lockout(live_server, capsys):
    staff("dana")
    for _ in range(5):
        Browser(live_server.url).sign_in("dana", "wrong guess")

    call_command("unlock_staff", "dana")

    assert "Unlocked dana" in capsys.readouterr().out
    assert signed_in(Browser(live_server.url).sign_in("dana", PASSWORD))


def test_an_address_guessing_across_many_usernames_is_refused(live_server, settings):
    settings.STAFF_LOCKOUT_ADDRESS_FAILURES = 8
    staff("victim")
    door = Browser(live_server.url)
    for name in ("admin", "root", "ops", "finance"):  # two guesses each: no pair is locked
        door.sign_in(name, "guess-1")
        door.sign_in(name, "guess-2")

    status, page, _ = door.sign_in("victim", PASSWORD)

    assert status == 429 and "locked" in page
