"""Working the queue as ops people notice it in a real browser: a request nothing fits
says so and asks for explicit consent before a wrong-language account is charged; a
request someone else claimed is named on the Allocate page and taken over in one click;
Next request keeps the queue's filters; the queue tells of requests that arrived."""

import pytest

from billing.selectors import wallet_balance_cents
from leasing.models import Lease, LeaseRequest, RequestNote
from leasing.roles import OPS
from leasing.services.claims import request_claim
from tests.conftest import lease_body, make_partner, request_url
from tests.e2e.conftest import api, log_in, shot
from tests.factories import PoolFactory, SocialAccountFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BEAUTY_BR = {"vertical": "beauty", "language": "pt-BR", "geo": ["BR"]}


def ask(live_server, partner, request_id, niche, count=1):
    status, _ = api(
        live_server,
        request_url(partner.project.pk),
        partner.token,
        lease_body(partner.project.pk, requestId=request_id, count=count, niche=niche),
    )
    assert status == 202


def test_nothing_fits_so_the_page_says_so_and_asks_before_charging(page, live_server):
    partner = make_partner("Browser Beauty")
    spanish = PoolFactory(name="Beauty ES", tags=["beauty"], language="es", geos=["MX"])
    for i in range(3):
        SocialAccountFactory(pool=spanish, followers=20_000 * (i + 1), follower_geos=["MX"])
    ask(live_server, partner, "beauty-br-1", BEAUTY_BR)
    before = wallet_balance_cents(organization_id=partner.organization.pk)
    log_in(page, live_server, "ops-beauty", OPS)

    panel = page.text_content("#ops-panel")
    assert "short by 1" in panel and "covered" not in panel
    shot(page, "home_panel_poor_fit")

    page.click("#ops-panel >> text=open requests")
    page.click("#result_list >> text=beauty-br-1")
    page.click("text=Allocate accounts")
    warning = page.text_content("#no-fit")
    assert "No ready account matches pt-BR · BR" in warning
    assert page.is_visible("#no-fit >> text=Reject…")
    assert page.is_visible("#no-fit >> text=Back to the queue")
    assert page.input_value("#id_best-count") == ""  # nothing pre-filled
    assert page.locator("tr.poor-fit").count() == 3
    shot(page, "allocate_poor_fit")

    page.fill("#id_best-count", "1")
    page.click("input[name=pick_best]")
    assert "Nothing was assigned" in page.text_content(".errornote")
    assert not Lease.objects.exists()
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before

    page.fill("#id_best-count", "1")
    page.check("#id_best-allow_poor_fit")
    page.click("input[name=pick_best]")
    assert "Assigned 1 account(s) to beauty-br-1" in page.text_content(".messagelist")
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before - 15_000


def test_a_claimed_request_is_taken_over_in_one_click_then_next_request(page, live_server):
    partner = make_partner("Browser Claims")
    pool = PoolFactory(name="Beauty BR", tags=["beauty"], language="pt-BR", geos=["BR"])
    for i in range(3):
        SocialAccountFactory(pool=pool, followers=10_000 * (i + 1), follower_geos=["BR"])
    ask(live_server, partner, "claimed-1", BEAUTY_BR)
    ask(live_server, partner, "coffee-1", {"vertical": "coffee", "language": "en"})
    ask(live_server, partner, "beauty-next", BEAUTY_BR)
    alice = UserFactory(username="alice")
    request_claim(lease_request=LeaseRequest.objects.get(public_id="claimed-1"), actor=alice)
    log_in(page, live_server, "bob", OPS)

    page.goto(live_server.url + "/admin/leasing/leaserequest/?vertical=beauty")
    page.click("#result_list >> text=claimed-1")
    page.click("text=Allocate accounts")
    banner = page.text_content("#claim-banner")
    assert "alice is working this request" in banner
    shot(page, "allocate_claimed_by_someone_else")

    page.click("input[name=pick_best]")
    assert "alice is working request claimed-1" in page.text_content(".errornote")
    assert not Lease.objects.exists()

    page.click("text=Take over from alice")
    assert "Taken over from alice" in page.text_content(".messagelist")
    assert "You are working this request" in page.text_content("#claim-banner")
    page.click("input[name=pick_best]")
    assert "Assigned 1 account(s) to claimed-1" in page.text_content(".messagelist")
    assert RequestNote.objects.filter(body="Took over the claim from alice.").exists()
    shot(page, "request_after_assign_next_request")

    page.click("#next-request")
    assert "beauty-next" in page.text_content("#content")  # coffee-1 is outside the filter
    assert "_changelist_filters=vertical%3Dbeauty" in page.url


def test_the_queue_tells_of_requests_that_arrived_since_it_was_loaded(page, live_server):
    partner = make_partner("Browser Arrivals")
    ask(live_server, partner, "early-1", BEAUTY_BR)
    log_in(page, live_server, "ops-arrivals", OPS)
    page.goto(live_server.url + "/admin/leasing/leaserequest/")
    assert page.is_hidden("#queue-arrivals")

    ask(live_server, partner, "late-1", BEAUTY_BR)
    ask(live_server, partner, "late-2", BEAUTY_BR)
    page.evaluate("window.queueArrivalsPoll()")
    page.wait_for_selector("#queue-arrivals:not([hidden])")

    assert "2 new requests arrived since you loaded this page" in page.text_content(
        "#queue-arrivals"
    )
    shot(page, "queue_arrivals")
    with page.expect_navigation():
        page.click("#queue-arrivals >> text=Reload the queue")
    page.wait_for_selector("#result_list >> text=late-2")
    assert page.is_hidden("#queue-arrivals")  # counted afresh from the reload
