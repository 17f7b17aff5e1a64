"""A new finance person: one-time link, password, authenticator app, backup codes; the
money pages open only after the code, at every sign-in."""

import pyotp
import pytest

from layers_ops.staff.services import staff_invite
from leasing.roles import FINANCE
from tests.e2e.conftest import shot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a long passphrase for finance 7"


def sign_in_with_password(page, live_server, username):
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", NEW_PASSWORD)
    page.click("input[type=submit]")


def test_a_new_staff_member_enrols_totp_and_reaches_the_wallets_only_after_the_code(
    page, live_server, settings
):
    settings.STAFF_2FA_REQUIRED = True
    invitation = staff_invite(username="fran", group_name=FINANCE, actor="admin")
    wallets = live_server.url + "/admin/billing/wallet/"

    page.goto(live_server.url + invitation.path)
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/enrol/")
    shot(page, "staff-enrol")
    assert page.locator(".qr svg").count() == 1

    page.goto(wallets)  # a password alone opens nothing
    assert "/admin/enrol/" in page.url

    secret = page.inner_text("#totp-secret").replace(" ", "")
    page.fill("#id_code", "000000" if pyotp.TOTP(secret).now() != "000000" else "111111")
    page.click("#code-form input[type=submit]")
    assert "not the one your app shows" in page.inner_text("#content")

    page.fill("#id_code", pyotp.TOTP(secret).now())
    page.click("#code-form input[type=submit]")
    codes = page.locator("#backup-codes li").all_inner_texts()
    shot(page, "staff-backup-codes")
    assert len(codes) == 10

    page.click("#continue")
    page.goto(wallets)
    assert page.url == wallets and "Select wallet" in page.inner_text("#content")

    # Next day: the password step, then the code prompt; a backup code works once.
    page.context.clear_cookies()
    sign_in_with_password(page, live_server, "fran")
    page.wait_for_url("**/admin/verify/**")
    page.goto(wallets)
    assert "/admin/verify/" in page.url
    shot(page, "staff-verify")
    page.fill("#id_code", codes[0])
    page.click("#code-form input[type=submit]")
    page.wait_for_url(wallets)

    page.context.clear_cookies()
    sign_in_with_password(page, live_server, "fran")
    page.wait_for_url("**/admin/verify/**")
    page.fill("#id_code", codes[0])
    page.click("#code-form input[type=submit]")
    assert "not valid" in page.inner_text("#content")

    page.goto(live_server.url + invitation.path)  # the link worked once
    assert "cannot be used" in page.inner_text("#content")
