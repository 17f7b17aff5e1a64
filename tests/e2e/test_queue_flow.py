"""An ops person works a request end to end in a real browser: find it in the queue,
allocate the best 3 of 5, close it as partial with a note the partner reads."""

import re

import pytest

from billing.selectors import wallet_balance_cents
from leasing.roles import OPS
from tests.conftest import lease_body, make_partner, request_url
from tests.e2e.conftest import api, log_in
from tests.factories import PoolFactory, SocialAccountFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ops_allocates_three_of_five_and_closes_as_partial(page, live_server):
    partner = make_partner("Browser Coffee")
    pool = PoolFactory(name="Coffee EN", tags=["coffee"], language="en", geos=["US", "CA"])
    for i in range(6):
        SocialAccountFactory(pool=pool, followers=10_000 * (i + 1), follower_geos=["US"])
    status, _ = api(
        live_server,
        request_url(partner.project.pk),
        partner.token,
        lease_body(partner.project.pk, requestId="browser-5", count=5),
    )
    assert status == 202
    before = wallet_balance_cents(organization_id=partner.organization.pk)
    log_in(page, live_server, "ops-browser", OPS)
    page.wait_for_selector("#ops-panel")

    page.click("#ops-panel >> text=open requests")
    page.fill("#searchbar", "browser-5")
    page.press("#searchbar", "Enter")
    page.click("#result_list >> text=browser-5")
    page.click("text=Allocate accounts")
    page.fill("#id_best-count", "3")
    page.click("input[name=pick_best]")
    message = page.text_content(".messagelist")
    assert "Assigned 3 account(s) to browser-5" in message
    assert "charged $450.00" in message

    page.click("text=Close as partial")
    page.fill("#id_note", "Three fit this niche today; we will not find two more soon.")
    assert page.is_checked("#id_partner_visible")
    page.click("input[type=submit][value='Close as partial']")
    page.wait_for_selector("text=Closed browser-5 as partial")

    _, polled = api(live_server, "/v1/leased-accounts/requests/browser-5", partner.token)
    assert polled["status"] == "partial"
    assert len(polled["assignedSocialAccountIds"]) == 3
    assert polled["note"] == "Three fit this niche today; we will not find two more soon."
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before - 45_000
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", polled["assignedAt"])
