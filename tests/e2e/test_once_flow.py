"""Forms take effect once, in a real browser on a slow network: a second click on
"Assign best N and charge" (or on Save with a note) sends nothing more, the button says
"Working…", and a form that reaches the server twice anyway changes things once and the
page says it was already done."""

import base64

import pytest
from django.urls import reverse

from billing.models import LedgerTransaction, TransactionKind, Wallet
from billing.selectors import wallet_balance_cents
from leasing.models import Lease, RequestNote
from leasing.roles import FINANCE, OPS
from tests.conftest import make_partner
from tests.e2e.conftest import SHOTS, log_in, shot
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def held_posts(page, pattern: str) -> list:
    """A slow network: every POST to ``pattern`` waits (held here) until the test lets it
    through with ``release``; other requests go at once."""
    held = []

    def hold(route):
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route(pattern, hold)
    return held


def release(held) -> None:
    for route in held:
        route.continue_()


def watch_button(page, selector: str) -> list[str]:
    """What ``selector`` shows (disabled, label) just after each click on it, as the page
    reports it on its console (the page is busy leaving, so it cannot be asked)."""
    seen = []
    page.on("console", lambda message: seen.append(message.text))
    page.evaluate(
        """selector => document.addEventListener("click", () => setTimeout(() => {
            const button = document.querySelector(selector);
            console.log(JSON.stringify([button.disabled, button.value]));
        }, 50), true)""",
        selector,
    )
    return seen


def shot_now(page, name: str) -> None:
    """A screenshot while the page waits for the server (Playwright's own would wait)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    png = page.context.new_cdp_session(page).send("Page.captureScreenshot", {"format": "png"})
    (SHOTS / f"{name}.png").write_bytes(base64.b64decode(png["data"]))


def center(page, selector):
    box = page.locator(selector).bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def request_with_supply(partner):
    pool = PoolFactory(name="Coffee EN", tags=["coffee"], language="en", geos=["US"])
    for i in range(5):
        SocialAccountFactory(pool=pool, followers=10_000 * (i + 1), follower_geos=["US"])
    return LeaseRequestFactory(project=partner.project, count=3)


def allocate_url(live_server, lease_request) -> str:
    return live_server.url + reverse("admin:leasing_leaserequest_allocate", args=[lease_request.pk])


def test_two_clicks_on_assign_best_n_on_a_slow_network_assign_one_and_charge_150(page, live_server):
    partner = make_partner("Slow Coffee")
    lease_request = request_with_supply(partner)
    before = wallet_balance_cents(organization_id=partner.organization.pk)
    log_in(page, live_server, "ops-slow", OPS)
    page.goto(allocate_url(live_server, lease_request))
    page.fill("#id_best-count", "1")
    held = held_posts(page, "**/allocate/")
    button = watch_button(page, "input[name=pick_best]")

    x, y = center(page, "input[name=pick_best]")
    page.mouse.click(x, y)
    page.wait_for_timeout(600)
    shot_now(page, "once-allocate-working")
    page.mouse.click(x, y)  # the impatient second click, 0.6 s later
    page.wait_for_timeout(600)
    sent = len(held)
    release(held)
    page.wait_for_selector(".messagelist")

    assert button == ['[true,"Working…"]', '[true,"Working…"]']  # after each click
    assert sent == 1
    message = page.text_content(".messagelist")
    assert f"Assigned 1 account(s) to {lease_request.public_id}" in message
    assert "charged $150.00" in message
    assert Lease.objects.filter(lease_request=lease_request).count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before - 15_000


def test_a_form_that_reaches_the_server_twice_changes_once_and_says_already_done(page, live_server):
    partner = make_partner("Twice Coffee")
    lease_request = request_with_supply(partner)
    before = wallet_balance_cents(organization_id=partner.organization.pk)
    log_in(page, live_server, "ops-twice", OPS)
    page.goto(allocate_url(live_server, lease_request))
    page.fill("#id_best-count", "1")

    def twice(route):  # a retrying proxy, or a page without its script: sent again
        if route.request.method != "POST":
            route.continue_()
            return
        route.fetch(max_redirects=0)  # the first submit reaches the server
        route.continue_()  # and the same form again

    page.route("**/allocate/", twice)
    page.click("input[name=pick_best]")
    page.wait_for_selector(".messagelist")
    shot(page, "once-allocate-already-done")

    message = page.text_content(".messagelist")
    assert "Already done: 1 account assigned to" in message
    assert "$150.00 charged at" in message and "by you" in message
    assert "1 of 3 assigned" in page.text_content(".work-panel")
    assert Lease.objects.filter(lease_request=lease_request).count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before - 15_000


def test_double_click_on_save_with_a_partner_visible_note_writes_one_note(page, live_server):
    partner = make_partner("Note Coffee")
    lease_request = LeaseRequestFactory(project=partner.project)
    log_in(page, live_server, "ops-note", OPS)
    page.goto(
        live_server.url + reverse("admin:leasing_leaserequest_change", args=[lease_request.pk])
    )
    page.fill("#id_notes-0-body", "Two accounts this week, the rest on Monday.")
    page.select_option("#id_notes-0-visibility", "partner")
    held = held_posts(page, "**/change/")

    x, y = center(page, "input[name=_save]")
    page.mouse.dblclick(x, y)
    page.wait_for_timeout(600)
    page.mouse.click(x, y)
    page.wait_for_timeout(600)
    sent = len(held)
    release(held)
    page.wait_for_selector(".messagelist")

    assert sent == 1
    notes = RequestNote.objects.filter(lease_request=lease_request)
    assert [(n.body, n.visibility) for n in notes] == [
        ("Two accounts this week, the rest on Monday.", "partner")
    ]


def test_a_large_top_up_confirmed_by_a_form_sent_twice_is_recorded_once(page, live_server):
    partner = make_partner("Confirm Coffee")
    wallet = Wallet.objects.get(organization=partner.organization)
    log_in(page, live_server, "fin-confirm", FINANCE)
    page.goto(live_server.url + reverse("admin:billing_wallet_top_up", args=[wallet.pk]))
    token = page.get_attribute("input[name=_once]", "value")
    page.fill("#id_amount", "25000")
    page.fill("#id_reason", "Wire 5512 received")
    page.click("input[type=submit].default")
    page.wait_for_selector("#confirm-words")
    shot(page, "once-confirm-movement")

    assert page.get_attribute("input[name=_once]", "value") == token
    assert "Twenty-five thousand dollars" in page.text_content("#confirm-words")

    def twice(route):  # the Confirm reaches the server twice (a retrying proxy)
        if route.request.method != "POST":
            route.continue_()
            return
        route.fetch(max_redirects=0)
        route.continue_()

    page.route("**/top-up/", twice)
    page.click("input[name=confirm]")
    page.wait_for_selector(".messagelist")

    assert "Already done: a top-up of $25,000.00 recorded" in page.text_content(".messagelist")
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 + 2_500_000


def test_a_top_up_voided_by_a_form_sent_twice_is_voided_once(page, live_server):
    partner = make_partner("Void Coffee")
    wallet = Wallet.objects.get(organization=partner.organization)
    top_up = LedgerTransaction.objects.get(kind=TransactionKind.FUNDING, entries__account=wallet)
    log_in(page, live_server, "fin-void", FINANCE)
    page.goto(live_server.url + reverse("admin:billing_wallet_void", args=[wallet.pk, top_up.pk]))
    assert page.get_attribute("form input[name=_once]", "value")
    page.fill("#id_reason", "Sent to the wrong wallet")
    shot(page, "once-void-top-up")

    def twice(route):
        if route.request.method != "POST":
            route.continue_()
            return
        route.fetch(max_redirects=0)
        route.continue_()

    page.route(f"**/void/{top_up.pk}/", twice)
    page.click("input[type=submit].default")
    page.wait_for_selector(".messagelist")
    shot(page, "once-void-already-done")

    assert f"Already done: {top_up.pk} voided" in page.text_content(".messagelist")
    assert LedgerTransaction.objects.filter(reverses=top_up).count() == 1
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 0
