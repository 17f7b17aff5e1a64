"""An ops person in a real browser: the admin flows partners depend on."""

import re
import urllib.error

import pytest

from leasing.roles import OPS
from tests.conftest import lease_body, make_partner, request_url
from tests.e2e.conftest import api, log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_ops_issues_a_key_that_works_at_once_and_revokes_it(page, live_server):
    partner = make_partner("Browser Partner")
    log_in(page, live_server, "ops-e2e", OPS)

    page.goto(live_server.url + "/admin/partners/apikey/add/")
    page.click(".select2-selection")
    page.keyboard.type("Browser")
    page.click(".select2-results__option >> text=Browser Partner")
    page.fill("#id_name", "staging backend")
    page.check("input[name=scopes][value='billing:read']")
    page.click("input[name=_save]")

    shown = page.text_content(".messagelist")
    token = re.search(r"lp_live_[A-Za-z0-9]+_[A-Za-z0-9]+", shown).group(0)
    status, whoami = api(live_server, "/v1/whoami", token)
    assert status == 200
    assert whoami["organizationId"] == partner.organization.pk
    assert whoami["scopes"] == ["leased:read", "leased:write", "billing:read"]

    page.check(f"input[name=_selected_action][value='{whoami['apiKeyId']}']")
    page.select_option("select[name=action]", "revoke_keys")
    page.click("button[name=index]")
    page.wait_for_selector("text=Revoked 1 key(s).")
    with pytest.raises(urllib.error.HTTPError) as refused:
        api(live_server, "/v1/whoami", token)
    assert refused.value.code == 401


def test_ops_answers_a_request_with_a_note_the_partner_reads(page, live_server):
    partner = make_partner("Noted Partner")
    status, _ = api(
        live_server,
        request_url(partner.project.pk),
        partner.token,
        lease_body(partner.project.pk, requestId="noted-1"),
    )
    assert status == 202
    log_in(page, live_server, "ops-e2e", OPS)

    page.goto(live_server.url + "/admin/leasing/leaserequest/")
    page.click("text=noted-1")
    page.fill("textarea[name='notes-0-body']", "Sourcing from the GB pool; ETA Friday")
    page.select_option("select[name='notes-0-visibility']", "partner")
    page.click("input[name=_save]")
    page.wait_for_selector("text=was changed successfully")

    _, polled = api(live_server, "/v1/leased-accounts/requests/noted-1", partner.token)
    assert polled["note"] == "Sourcing from the GB pool; ETA Friday"
