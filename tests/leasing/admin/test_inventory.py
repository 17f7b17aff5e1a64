"""The inventory admin: readable lists, fixed queries, state moves, CSV import."""

import io
import os
import re
import time

import pytest
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from layers_ops.staff.models import FormOnce
from leasing.admin.intake_admin import AccountIntakeResource, IntakeCSV
from leasing.admin.inventory_forms import AccountImportForm
from leasing.models import AccountEvent, AccountImport, Pool, SocialAccount
from leasing.roles import FINANCE, OPS
from tests.factories import LeaseFactory, PoolFactory, SocialAccountFactory, UserFactory
from tests.once import once, once_on

pytestmark = pytest.mark.django_db

ACCOUNTS = reverse("admin:leasing_socialaccount_changelist")
POOLS = reverse("admin:leasing_pool_changelist")
IMPORT = reverse("admin:leasing_socialaccount_import")
PROCESS = reverse("admin:leasing_socialaccount_process_import")


@pytest.fixture
def ops(client):
    user = UserFactory(username="dana")
    user.groups.add(Group.objects.get(name=OPS))
    client.force_login(user)
    return user


def text_of(response) -> str:
    return response.content.decode()


def result_list(html: str) -> str:
    return re.search(r'<table id="result_list">.*?</table>', html, re.S).group(0)


# Lists ------------------------------------------------------------------------------


def test_pool_list_reads_as_text_with_counts_per_state(client, ops):
    pool = PoolFactory(name="Coffee US", tags=["coffee", "food"], geos=["US", "CA", "GB"])
    SocialAccountFactory.create_batch(3, pool=pool, state="ready")
    SocialAccountFactory(pool=pool, state="warming")
    LeaseFactory(social_account__pool=pool)

    html = result_list(text_of(client.get(POOLS)))

    assert "coffee, food" in html and "US, CA, GB" in html
    assert "[" not in html and "&quot;" not in html
    row = re.search(r"<tr>.*?Coffee US.*?</tr>", html, re.S).group(0)
    cells = re.findall(r'<td class="field-count_(\w+)">(?:<a [^>]*>)?([\d,]+)', row)
    assert dict(cells) == {
        "warming": "1",
        "ready": "3",
        "leased": "1",
        "cooldown": "0",
        "retired": "0",
    }


def test_account_list_shows_followers_and_geos_as_people_read_them(client, ops):
    SocialAccountFactory(handle="coffee_jo", followers=12400, follower_geos=["US", "CA"])

    html = result_list(text_of(client.get(ACCOUNTS)))

    assert "@coffee_jo" in html and "12,400" in html and "US, CA" in html
    assert "[" not in html and "&quot;" not in html


def test_pool_list_runs_the_same_queries_for_many_pools(client, ops, django_assert_num_queries):
    for i in range(3):
        SocialAccountFactory(pool=PoolFactory(name=f"P{i}"))
    client.get(POOLS)  # warm the session and content types
    with CaptureQueriesContext(connection) as few:
        client.get(POOLS)
    for i in range(3, 30):
        SocialAccountFactory.create_batch(2, pool=PoolFactory(name=f"P{i}"))

    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(POOLS)

    assert response.status_code == 200


def test_account_list_runs_the_same_queries_for_many_accounts(
    client, ops, django_assert_num_queries
):
    SocialAccountFactory.create_batch(2)
    client.get(ACCOUNTS)
    with CaptureQueriesContext(connection) as few:
        client.get(ACCOUNTS)
    SocialAccountFactory.create_batch(60)

    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(ACCOUNTS)

    assert response.status_code == 200


def test_pool_form_takes_text_and_refuses_bad_values(client, ops):
    add = reverse("admin:leasing_pool_add")
    bad = client.post(
        add, {"name": "Bad", "tags": " , ", "language": "en_US", "geos": "US XX", "notes": ""}
    )
    errors = text_of(bad)
    assert "Give at least one vertical" in errors
    assert "not a well-formed BCP-47" in errors
    assert "&#x27;XX&#x27;" in errors
    assert not Pool.objects.exists()

    good = client.post(
        add,
        {"name": "Coffee", "tags": " Coffee, FOOD ,coffee", "language": "pt-BR", "geos": "us, ca"},
    )

    assert good.status_code == 302
    pool = Pool.objects.get()
    assert (pool.tags, pool.language, pool.geos) == (["coffee", "food"], "pt-BR", ["US", "CA"])
    form = text_of(client.get(reverse("admin:leasing_pool_change", args=[pool.pk])))
    assert 'value="coffee, food"' in form and 'value="US CA"' in form


# Account page and moves ---------------------------------------------------------------


def test_state_is_not_editable_on_the_account_page_and_history_is_shown(client, ops):
    account = SocialAccountFactory(state="warming", follower_geos=["US"])
    move(client, "mark_ready", [account], reason="warmed for 3 weeks")

    html = text_of(client.get(reverse("admin:leasing_socialaccount_change", args=[account.pk])))

    assert 'name="state"' not in html
    assert "Warming → Ready" in html and "warmed for 3 weeks" in html and "dana" in html
    assert 'value="US"' in html


def move(client, action, accounts, *, reason=None):
    data = {"action": action, "_selected_action": [a.pk for a in accounts]}
    if reason is not None:
        data.update(confirm="yes", reason=reason, **once(client))
    return client.post(ACCOUNTS, data, follow=reason is not None)


def test_an_action_asks_why_first_and_shows_what_can_move(client, ops):
    ready = SocialAccountFactory(handle="ready_one", state="ready")
    warming = SocialAccountFactory(handle="warm_one", state="warming")

    page = move(client, "mark_ready", [ready, warming])

    html = text_of(page)
    assert page.status_code == 200 and 'name="reason"' in html
    assert "1 of 2 selected account(s) will move to" in html
    assert "No: already ready" in html
    assert AccountEvent.objects.count() == 0


def test_moves_are_logged_and_refusals_reported(client, ops):
    warming = SocialAccountFactory(handle="warm_one", state="warming")
    leased = LeaseFactory(social_account__handle="leased_one").social_account
    retired = SocialAccountFactory(handle="old_one", state="retired")

    response = move(client, "send_to_cooldown", [warming, leased, retired], reason="spam flags")

    html = text_of(response)
    assert "could not be sent to cooldown" in html
    assert "@leased_one: leased to a partner: end its lease first" in html
    assert "@warm_one: cannot move from warming to cooldown" in html
    assert "@old_one: cannot move from retired to cooldown" in html
    assert not AccountEvent.objects.exists()

    response = move(client, "retire", [warming, retired], reason="banned")

    assert "1 account(s) retired: @warm_one." in text_of(response)
    event = AccountEvent.objects.get()
    assert (event.account, event.from_state, event.to_state) == (warming, "warming", "retired")
    assert (event.actor, event.reason) == (ops, "banned")


def test_a_move_needs_a_reason(client, ops):
    account = SocialAccountFactory(state="warming")

    response = move(client, "mark_ready", [account], reason="")

    assert "This field is required" in text_of(response)
    account.refresh_from_db()
    assert account.state == "warming"


def test_an_account_added_by_hand_starts_warming_with_its_history(client, ops):
    pool = PoolFactory()

    response = client.post(
        reverse("admin:leasing_socialaccount_add"),
        {"handle": "@Hand_Made", "pool": pool.pk, "followers": 10, "follower_geos": "us"},
    )

    assert response.status_code == 302
    account = SocialAccount.objects.get()
    assert (account.handle, account.state, account.follower_geos) == (
        "hand_made",
        "warming",
        ["US"],
    )
    assert account.events.get().actor == ops


# CSV import -------------------------------------------------------------------------


def upload(client, text, **options):
    data = {
        "import_file": SimpleUploadedFile("warm.csv", text.encode(), content_type="text/csv"),
        "format": "0",
        "pool": "Coffee US",
        "verticals": "coffee",
        "language": "en",
        "geos": "US CA",
        "state": "ready",
        **options,
    }
    return client.post(IMPORT, data)


def confirm(client, preview):
    form = preview.context["confirm_form"]
    data = {field.html_name: field.value() for field in form}
    if "skip_invalid" in form.fields:
        data["skip_invalid"] = "on" if form["skip_invalid"].value() else ""
    return client.post(PROCESS, {**data, **once_on(preview)}, follow=True)


@pytest.fixture(autouse=True)
def upload_dir(settings, tmp_path):
    settings.INTAKE_UPLOAD_DIR = str(tmp_path / "intake")
    return tmp_path / "intake"


def stored(upload_dir) -> list[str]:
    return sorted(p.name for p in upload_dir.iterdir()) if upload_dir.exists() else []


def test_import_previews_then_writes_on_confirm(client, ops):
    SocialAccountFactory(handle="brew.daily", followers=9000)

    preview = upload(client, "handle,followers,geo\n@coffee_jo,12400,US|CA\nbrew.daily,9800,\n")

    html = text_of(preview)
    assert "Preview: nothing is written until you confirm" in html
    assert "@coffee_jo" in html and "12,400" in html and "US, CA" in html
    assert "9,000 → 9,800" in html
    assert "Confirm: add 1, update 1" in html
    assert SocialAccount.objects.count() == 1 and not Pool.objects.filter(name="Coffee US").exists()

    result = confirm(client, preview)

    assert result.redirect_chain[-1][0].startswith("/admin/leasing/socialaccount/import/")
    assert "1 added, 1 updated, 0 refused" in text_of(result)
    pool = Pool.objects.get(name="Coffee US")
    assert pool.accounts.count() == 2
    assert SocialAccount.objects.get(handle="brew.daily").followers == 9800
    assert AccountImport.objects.get().actor == ops

    again = confirm(client, preview)  # the back button and a second click

    assert "Already done: warm.csv imported into Coffee US: 1 added, 1 updated" in (text_of(again))
    assert "by you" in text_of(again)
    assert AccountImport.objects.count() == 1


def test_import_with_refused_rows_offers_no_confirm_and_writes_nothing(client, ops):
    preview = upload(client, "handle,followers\ngood_one,5\nbad!,x\n")

    html = text_of(preview)
    assert "confirm_form" not in preview.context or not preview.context["confirm_form"]
    assert "1 row(s) are refused, so nothing will be imported" in html
    assert "bad handle" in html
    assert not SocialAccount.objects.exists()


def test_import_skipping_refused_rows_offers_their_csv_afterwards(client, ops):
    preview = upload(client, "handle,followers\ngood_one,5\n=cmd,7\n", skip_invalid="on")
    result = confirm(client, preview)

    assert "Download the refused rows (CSV)" in text_of(result)
    record = AccountImport.objects.get()
    csv = b"".join(
        client.get(reverse("admin:leasing_socialaccount_import_refused", args=[record.pk]))
    ).decode()
    assert csv.splitlines() == [
        "line,handle,reason",
        '3,\'=cmd,"bad handle: use 2-24 letters, digits, underscores or periods"',
    ]
    assert list(SocialAccount.objects.values_list("handle", flat=True)) == ["good_one"]


def test_import_form_checks_the_pool_options(client, ops):
    preview = upload(client, "handle,followers\ngood_one,5\n", verticals="", geos="US XX")

    html = text_of(preview)
    assert "&#x27;XX&#x27;" in html
    assert not SocialAccount.objects.exists()


def test_a_file_without_header_is_refused_on_the_form(client, ops):
    html = text_of(upload(client, "good_one,5\n"))

    assert "must be a header naming the columns" in html


def test_only_ops_and_superusers_can_import(client, admin_client):
    finance = UserFactory(username="fin")
    finance.groups.add(Group.objects.get(name=FINANCE))
    client.force_login(finance)

    assert client.get(IMPORT).status_code == 403
    assert admin_client.get(IMPORT).status_code == 200
    assert "Import" in text_of(admin_client.get(ACCOUNTS))


def test_an_upload_over_the_limit_is_refused_with_a_message_before_it_is_read(
    client, ops, settings, upload_dir
):
    settings.INTAKE_MAX_UPLOAD_MB = 1
    rows = "".join(f"acct_{i:06d},{i}\n" for i in range(80_000))  # about 1.4 MB

    response = upload(client, "handle,followers\n" + rows)

    html = text_of(response)
    assert response.status_code == 200
    assert "The file is larger than 1 MB (this one is 1.4 MB): nothing was read." in html
    assert "Preview" in html and "confirm_form" not in response.context
    assert stored(upload_dir) == [] and not SocialAccount.objects.exists()


def test_the_form_checks_the_file_size_too(client, ops, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.INTAKE_MAX_UPLOAD_MB = 1
    big = SimpleUploadedFile("big.csv", b"handle,followers\n" + b"x" * (1024 * 1024))
    data = {"format": "0", "pool": "P", "verticals": "coffee", "state": "ready"}
    form = AccountImportForm(
        [IntakeCSV], [AccountIntakeResource], data=data, files={"import_file": big}
    )

    assert not form.is_valid()
    assert "larger than 1 MB" in str(form.errors["import_file"])


def test_uploads_are_kept_only_between_a_confirmable_preview_and_its_confirm(
    client, ops, upload_dir
):
    upload(client, "handle,followers\ngood_one,5\nbad!,x\n")  # refused: nothing to confirm
    assert stored(upload_dir) == []
    upload(client, "no header at all\n")  # an error
    assert stored(upload_dir) == []

    preview = upload(client, "handle,followers\ngood_one,5\n")
    assert len(stored(upload_dir)) == 1

    confirm(client, preview)

    assert stored(upload_dir) == [] and SocialAccount.objects.count() == 1


def test_another_users_preview_cannot_be_confirmed(client, ops, upload_dir):
    preview = upload(client, "handle,followers\nvictim_one,5\n", pool="Victim pool")
    form = preview.context["confirm_form"]
    stolen = {field.html_name: field.value() for field in form}
    stolen.update(pool="Attacker pool", verticals="spam")  # the old form's hidden options
    attacker = UserFactory(username="mallory")
    attacker.groups.add(Group.objects.get(name=OPS))
    other = Client()
    other.force_login(attacker)

    response = other.post(PROCESS, stolen, follow=True)

    assert response.status_code == 200
    assert "is not yours: nothing was imported" in text_of(response)
    assert not SocialAccount.objects.exists() and not Pool.objects.exists()

    confirm(client, preview)  # the owner still can, into the pool previewed

    assert SocialAccount.objects.get().pool.name == "Victim pool"
    assert AccountImport.objects.get().actor == ops


@pytest.mark.parametrize(
    "name", ["../../../../etc/hostname", "x" * 5000, "nul\x00name", "", "tmpabc123"]
)
def test_a_tampered_upload_reference_is_refused_with_a_message(client, ops, name):
    upload(client, "handle,followers\ngood_one,5\n")
    data = {
        "upload": name,
        "import_file_name": name,
        "original_file_name": "warm.csv",
        "format": "0",
        "pool": "Attacker pool",
        "verticals": "spam",
        "state": "ready",
    }

    response = client.post(PROCESS, data, follow=True)

    assert response.status_code == 200
    assert "nothing was imported" in text_of(response)
    assert not SocialAccount.objects.exists()


def test_a_preview_spends_no_one_time_token_and_its_confirm_spends_one(client, ops):
    preview = upload(client, "handle,followers\ngood_one,5\n")
    assert not FormOnce.objects.exists()

    confirm(client, preview)

    assert FormOnce.objects.get().outcome == "warm.csv imported into Coffee US: 1 added, 0 updated"


def test_the_confirm_imports_what_was_previewed_not_edited_options(client, ops):
    preview = upload(client, "handle,followers\ngood_one,5\n", pool="Coffee US")
    data = {field.html_name: field.value() for field in preview.context["confirm_form"]}
    data.update(pool="Elsewhere", verticals="spam", state="warming")

    client.post(PROCESS, {**data, **once_on(preview)})

    account = SocialAccount.objects.get()
    assert (account.pool.name, account.state) == ("Coffee US", "ready")


def test_abandoned_uploads_are_purged_after_their_ttl(client, ops, upload_dir, settings):
    preview = upload(client, "handle,followers\ngood_one,5\n")
    (kept,) = upload_dir.iterdir()
    hour_ago = time.time() - 61 * 60
    os.utime(kept, (hour_ago, hour_ago))
    (upload_dir / "not-ours.txt").write_text("x")
    os.utime(upload_dir / "not-ours.txt", (hour_ago, hour_ago))
    out = io.StringIO()

    call_command("purge_intake_uploads", stdout=out)

    assert "Deleted 1 stored upload(s) older than 60 minutes." in out.getvalue()
    assert stored(upload_dir) == ["not-ours.txt"]
    assert "already imported, has expired" in text_of(confirm(client, preview))
    assert not SocialAccount.objects.exists()


def test_huge_numbers_and_nul_bytes_are_refused_rows_on_the_page(client, ops):
    text = "handle,followers\nbig_one," + "9" * 4400 + "\nnul\x00one,5\ngood_one,5\n"

    preview = upload(client, text, skip_invalid="on")

    assert preview.status_code == 200 and "followers too large" in text_of(preview)
    result = confirm(client, preview)
    assert result.status_code == 200 and "1 added, 0 updated, 2 refused" in text_of(result)
