"""An ops person loads warmed accounts from a CSV and moves them, in a real browser.

Screenshots (1366 px wide) of each page go to ``E2E_SHOTS_DIR``, so the pages can be
looked at after a run.
"""

import pytest

from leasing.models import AccountEvent, SocialAccount
from leasing.roles import OPS
from tests.e2e.conftest import log_in, shot
from tests.factories import LeaseFactory, PoolFactory, SocialAccountFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


CSV = (
    "handle,followers,geo\r\n"
    "@coffee_jo,12400,US|CA\r\n"
    "brew.daily,9800,GB\r\n"
    "latte.lab,15250,US\r\n"
    "\r\n"
    "espresso em,3100,US\r\n"
    "cold_brew_co,-20,US\r\n"
    "pour_over_pat,8800,US|XX\r\n"
    "@Coffee_Jo,500,US\r\n"
)


def inventory():
    coffee = PoolFactory(
        name="Coffee US", tags=["coffee", "food"], geos=["US", "CA"], notes="Hand-warmed in SF."
    )
    fitness = PoolFactory(name="Fitness GB", tags=["fitness"], geos=["GB", "IE"])
    PoolFactory(name="Mobile games BR", tags=["mobile games"], language="pt-BR", geos=["BR"])
    for i, (handle, followers) in enumerate(
        [("brew.daily", 9100), ("mocha_max", 22100), ("cafe_cora", 5400), ("ristretto_ray", 780)]
    ):
        SocialAccountFactory(
            pool=coffee,
            handle=handle,
            followers=followers,
            follower_geos=["US", "CA"][: 1 + i % 2],
            state="ready" if i < 3 else "warming",
        )
    SocialAccountFactory(pool=fitness, handle="lift_lena", followers=31000, state="ready")
    SocialAccountFactory(pool=fitness, handle="squat_sam", followers=12000, state="cooldown")
    LeaseFactory(
        disconnected=True,
        social_account__pool=coffee,
        social_account__handle="macchiato_mo",
        social_account__followers=26300,
        social_account__follower_geos=["US", "CA"],
    )
    LeaseFactory(
        social_account__pool=coffee,
        social_account__handle="flat_white_fi",
        social_account__followers=48200,
        social_account__follower_geos=["US"],
    )
    return coffee


def test_ops_imports_a_csv_after_a_preview_and_moves_accounts_with_a_reason(page, live_server):
    coffee = inventory()
    log_in(page, live_server, "dana.ops", OPS)

    page.goto(live_server.url + "/admin/leasing/socialaccount/import/")
    page.set_input_files(
        "#id_import_file",
        files=[{"name": "coffee-batch-7.csv", "mimeType": "text/csv", "buffer": CSV.encode()}],
    )
    page.fill("#id_pool", "Coffee US")
    page.fill("#id_verticals", "")
    page.fill("#id_geos", "")
    page.click("input[value=Preview]")
    page.wait_for_selector("text=4 row(s) are refused, so nothing will be imported")
    shot(page, "05-import-preview-refused")

    page.set_input_files(
        "#id_import_file",
        files=[{"name": "coffee-batch-7.csv", "mimeType": "text/csv", "buffer": CSV.encode()}],
    )
    page.check("#id_skip_invalid")
    page.click("input[value=Preview]")
    page.wait_for_selector("text=Preview: nothing is written until you confirm")
    assert page.locator("table.intake-updated").inner_text().count("9,100 → 9,800") == 1
    shot(page, "06-import-preview")
    assert not SocialAccount.objects.filter(handle="latte.lab").exists()

    page.click("input[name=confirm]")
    page.wait_for_selector("text=Download the refused rows (CSV)")
    shot(page, "07-import-result")
    assert SocialAccount.objects.get(handle="latte.lab").pool == coffee
    assert SocialAccount.objects.get(handle="brew.daily").followers == 9800

    page.goto(f"{live_server.url}/admin/leasing/socialaccount/?pool__id__exact={coffee.pk}")
    shot(page, "03-account-changelist")
    for handle in ("ristretto_ray", "flat_white_fi", "macchiato_mo", "coffee_jo"):
        account = SocialAccount.objects.get(handle=handle)
        page.check(f"input[name=_selected_action][value='{account.pk}']")
    page.select_option("select[name=action]", "send_to_cooldown")
    page.click("button[name=index]")
    page.wait_for_selector("#id_reason")
    page.fill("#id_reason", "Engagement dipped after the last batch")
    shot(page, "04-account-action-page")
    page.click("input.default")
    page.wait_for_selector(".messagelist")
    messages = page.inner_text(".messagelist")
    assert "1 account(s) sent to cooldown: @macchiato_mo." in messages
    assert "@flat_white_fi: leased to a partner: end its lease first" in messages
    assert "@ristretto_ray: cannot move from warming to cooldown" in messages
    assert "@coffee_jo: cannot move from ready to cooldown" in messages
    shot(page, "04b-account-action-result")
    assert SocialAccount.objects.get(handle="macchiato_mo").state == "cooldown"

    jo = SocialAccount.objects.get(handle="coffee_jo")
    page.check(f"input[name=_selected_action][value='{jo.pk}']")
    page.select_option("select[name=action]", "back_to_warming")
    page.click("button[name=index]")
    page.fill("#id_reason", "Shadow-ban suspected; warm another week")
    page.click("input.default")
    page.wait_for_selector("text=1 account(s) sent back to warming: @coffee_jo.")
    assert [e.to_state for e in AccountEvent.objects.filter(account=jo)] == ["warming", "ready"]
    page.goto(live_server.url + f"/admin/leasing/socialaccount/{jo.pk}/change/")
    page.wait_for_selector("text=Shadow-ban suspected; warm another week")
    shot(page, "08-account-change-history")

    page.goto(live_server.url + "/admin/leasing/pool/")
    shot(page, "01-pool-changelist")
    page.goto(live_server.url + f"/admin/leasing/pool/{coffee.pk}/change/")
    shot(page, "02-pool-change-form")
    assert page.input_value("#id_tags") == "coffee, food"


def test_an_upload_over_the_limit_and_a_stale_confirm_are_refused_on_the_page(
    page, live_server, settings, tmp_path
):
    settings.INTAKE_MAX_UPLOAD_MB = 1
    settings.INTAKE_UPLOAD_DIR = str(tmp_path / "intake")
    inventory()
    log_in(page, live_server, "dana.ops", OPS)
    big = "handle,followers\r\n" + "".join(f"acct_{i:06d},{i}\r\n" for i in range(90_000))

    page.goto(live_server.url + "/admin/leasing/socialaccount/import/")
    page.set_input_files(
        "#id_import_file",
        files=[{"name": "too-big.csv", "mimeType": "text/csv", "buffer": big.encode()}],
    )
    page.fill("#id_pool", "Coffee US")
    page.click("input[value=Preview]")
    page.wait_for_selector("text=The file is larger than 1 MB")
    shot(page, "09-import-refused-too-large")
    assert not SocialAccount.objects.filter(handle="acct_000001").exists()

    page.set_input_files(
        "#id_import_file",
        files=[{"name": "coffee-batch-8.csv", "mimeType": "text/csv", "buffer": CSV.encode()}],
    )
    page.fill("#id_pool", "Coffee US")
    page.check("#id_skip_invalid")
    page.click("input[value=Preview]")
    page.wait_for_selector("text=Preview: nothing is written until you confirm")
    page.eval_on_selector("input[name=upload]", "e => e.value = 'made-up-or-expired'")
    page.click("input[name=confirm]")
    page.wait_for_selector("text=has expired or is not yours: nothing was imported")
    shot(page, "10-import-confirm-refused")
    assert not SocialAccount.objects.filter(handle="latte.lab").exists()
