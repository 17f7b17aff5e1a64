"""Ops data rules in a real browser at 1366 px: a pasted note over the limit is refused
whole (the box no longer cuts it), the queue finds a closed request by @handle and lists
one entry per vertical, and a leased account's page shows its handle read-only with
every edit in its history."""

import pytest

from leasing.models import RequestNote, RequestStatus
from leasing.roles import OPS
from tests.conftest import lease_body, make_partner, request_url
from tests.e2e.conftest import api, log_in, shot
from tests.factories import LeaseFactory, LeaseRequestFactory, PoolFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOO_LONG = ("word " * 1026)[:5129] + "s"  # 5,130 characters


def test_a_pasted_over_long_note_is_refused_whole_not_cut(page, live_server):
    partner = make_partner("Paste Coffee")
    status, _ = api(
        live_server,
        request_url(partner.project.pk),
        partner.token,
        lease_body(partner.project.pk, requestId="paste-1", count=2),
    )
    assert status == 202
    log_in(page, live_server, "ops-paste", OPS)
    page.goto(live_server.url + "/admin/leasing/leaserequest/?q=paste-1")
    page.click("#result_list >> text=paste-1")

    page.focus("#id_notes-0-body")
    page.keyboard.insert_text(TOO_LONG)  # as a paste: a maxlength box would cut it here
    assert len(page.input_value("#id_notes-0-body")) == 5130
    page.click("input[name=_continue]")

    page.wait_for_selector(".errorlist")
    assert "Note is 5,130 characters; the limit is 2,000." in page.text_content(".errorlist")
    assert not RequestNote.objects.exists()
    shot(page, "ops-data-01-note-too-long")

    page.click("text=Reject")
    page.focus("#id_note")
    page.keyboard.insert_text(TOO_LONG)
    page.click("input[type=submit][value='Reject']")
    page.wait_for_selector(".errorlist")
    assert "Note is 5,130 characters; the limit is 2,000." in page.text_content(".errorlist")
    shot(page, "ops-data-02-reject-note-too-long")
    _, polled = api(live_server, "/v1/leased-accounts/requests/paste-1", partner.token)
    assert polled["status"] == "requested"


def test_queue_finds_a_closed_request_by_at_handle_and_groups_verticals(page, live_server):
    partner = make_partner("Search Coffee")
    for spelling in ("Fintech", "fintech", "FINTECH"):
        LeaseRequestFactory(project=partner.project, vertical=spelling)
    closed = LeaseRequestFactory(
        project=partner.project, status=RequestStatus.ASSIGNED, count=1, public_id="closed-7"
    )
    LeaseFactory(lease_request=closed, social_account__handle="latte_art_queen")
    log_in(page, live_server, "ops-search", OPS)

    panel = page.locator("#ops-panel tbody td:first-child").all_inner_texts()
    # One row per niche, its vertical on the first line: the three spellings are one.
    assert sorted(row.split("\n")[0].strip() for row in panel) == ["coffee", "fintech"]
    shot(page, "ops-data-03-home-panel")
    page.click("#ops-panel >> text=fintech")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 3

    page.goto(live_server.url + "/admin/leasing/leaserequest/")
    verticals = page.locator(
        "#changelist-filter details:has-text('By vertical') li"
    ).all_inner_texts()
    assert [v.strip() for v in verticals] == ["All", "coffee", "fintech"]
    shot(page, "ops-data-04-queue-verticals")

    page.fill("#searchbar", "@latte_art_queen")
    page.press("#searchbar", "Enter")
    page.wait_for_selector("#result_list >> text=closed-7")
    shot(page, "ops-data-05-queue-search-at-handle")

    page.click("text=Show all")
    page.wait_for_url("**status=all")
    page.wait_for_selector("#result_list >> text=closed-7")
    assert page.locator("#result_list tbody tr").count() == 4


def test_a_leased_account_keeps_its_handle_and_edits_are_in_its_history(page, live_server):
    PoolFactory(name="Coffee CA", tags=["coffee"])
    lease = LeaseFactory(social_account__handle="held_by_partner", social_account__followers=1000)
    log_in(page, live_server, "ops-edit", OPS)

    page.goto(live_server.url + f"/admin/leasing/socialaccount/{lease.social_account_id}/change/")
    assert page.locator("input[name=handle]").count() == 0
    assert page.locator("select[name=pool]").count() == 0
    assert "cannot be renamed" in page.text_content("#content")
    page.fill("#id_followers", "2500")
    page.click("input[name=_continue]")

    page.wait_for_selector("text=changed successfully")
    assert "followers 1,000 → 2,500" in page.text_content("#content")
    assert "ops-edit" in page.text_content("#content")
    shot(page, "ops-data-06-leased-account-history")
