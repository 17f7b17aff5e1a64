"""CSV intake: the service the admin import and the import_accounts command share."""

import pytest

from leasing.intake import accounts_import
from leasing.intake_parsing import IntakeError, rows_read
from leasing.models import AccountEvent, AccountImport, AccountState, Pool, SocialAccount
from tests.factories import LeaseFactory, PoolFactory, SocialAccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(text, **options):
    options.setdefault("pool_name", "Coffee US")
    options.setdefault("verticals", "coffee, food")
    return accounts_import(rows=rows_read(text), **options)


def reasons(report):
    return {refusal.line: refusal.reason for refusal in report.refused}


def test_new_accounts_are_added_ready_to_a_new_pool_with_an_event_each():
    ops = UserFactory(username="dana")

    report = run(
        "handle,followers,geo\n@Coffee_Jo,12400,us|CA\nbrew.daily,9800,\n",
        language="en",
        geos="US CA",
        actor=ops,
    )

    assert report.written and report.pool_created
    pool = Pool.objects.get(name="Coffee US")
    assert (pool.tags, pool.language, pool.geos) == (["coffee", "food"], "en", ["US", "CA"])
    jo = SocialAccount.objects.get(handle="coffee_jo")
    assert (jo.pool, jo.state, jo.followers, jo.follower_geos) == (
        pool,
        "ready",
        12400,
        ["US", "CA"],
    )
    assert jo.warmed_since is not None and jo.id.startswith("sa_")
    events = AccountEvent.objects.filter(account__pool=pool)
    assert events.count() == 2
    assert {(e.from_state, e.to_state, e.actor, e.actor_label) for e in events} == {
        ("", "ready", ops, "dana")
    }
    record = AccountImport.objects.get()
    assert (record.added, record.updated, record.refused_count, record.actor) == (2, 0, 0, ops)


def test_every_kind_of_bad_row_is_refused_with_its_line_and_nothing_is_written():
    text = (
        "handle,followers,geo\n"
        "good_one,10,US\n"  # 2
        ",5,US\n"  # 3
        "bad handle!,5,US\n"  # 4
        "x,5,US\n"  # 5
        "twelve_k,12k,US\n"  # 6
        "minus,-3,US\n"  # 7
        "nowhere,5,US|XX\n"  # 8
        "@GOOD_ONE,7,US\n"  # 9
        "decimal,1.5,\n"  # 10
    )

    report = run(text)

    assert not report.written and report.refused_whole_file
    assert reasons(report) == {
        3: "missing handle",
        4: "bad handle: use 2-24 letters, digits, underscores or periods",
        5: "bad handle: use 2-24 letters, digits, underscores or periods",
        6: "followers must be a whole number (digits 0-9, no leading zeros), not '12k'",
        7: "followers cannot be negative (-3)",
        8: "unknown country code 'XX'",
        9: "duplicate handle: already on line 2",
        10: "followers must be a whole number (digits 0-9, no leading zeros), not '1.5'",
    }
    assert [a.handle for a in report.added] == ["good_one"]
    assert not SocialAccount.objects.exists()
    assert not Pool.objects.exists() and not AccountImport.objects.exists()


def test_skip_invalid_writes_the_good_rows_and_records_the_refused_ones():
    report = run("handle,followers\nfine_one,10\nbad!,3\nfine_two,20\n", skip_invalid=True)

    assert report.written
    assert sorted(SocialAccount.objects.values_list("handle", flat=True)) == [
        "fine_one",
        "fine_two",
    ]
    assert AccountImport.objects.get().refused == [
        [3, "bad!", "bad handle: use 2-24 letters, digits, underscores or periods"]
    ]


def test_a_known_handle_is_updated_not_duplicated_and_keeps_its_state():
    old_pool = PoolFactory(name="Old")
    account = SocialAccountFactory(
        pool=old_pool, handle="brew.daily", followers=9800, follower_geos=["GB"], state="warming"
    )

    other = SocialAccountFactory(pool=old_pool, handle="cold.cup", follower_geos=["GB"])

    report = run(
        "handle,followers,geo\n@Brew.Daily,10100,\ncold.cup,7,us|ca\n", state=AccountState.READY
    )

    account.refresh_from_db()
    other.refresh_from_db()
    assert [u.handle for u in report.updated] == ["brew.daily", "cold.cup"] and not report.added
    assert (account.followers, account.follower_geos, account.state) == (10100, ["GB"], "warming")
    assert account.pool.name == "Coffee US"
    assert (other.followers, other.follower_geos) == (7, ["US", "CA"])
    assert SocialAccount.objects.count() == 2


def test_leased_and_retired_accounts_are_refused_rather_than_touched():
    leased = LeaseFactory(social_account__handle="leased_one").social_account
    SocialAccountFactory(handle="gone_one", state=AccountState.RETIRED)

    report = run("handle,followers\nleased_one,1\ngone_one,2\n", skip_invalid=True)

    assert reasons(report) == {
        2: "@leased_one is leased to a partner: update it after its lease ends",
        3: "@gone_one is retired: not updated",
    }
    leased.refresh_from_db()
    assert leased.pool.name != "Coffee US" and leased.followers != 1


def test_bom_crlf_and_empty_lines_are_tolerated_and_lines_keep_their_numbers():
    text = "\ufeffHandle , Followers\r\n\r\nfirst_one,1\r\n\r\n  \r\nbad!,2\r\n"

    report = run(text)

    assert [a.line for a in report.added] == [3]
    assert reasons(report) == {6: "bad handle: use 2-24 letters, digits, underscores or periods"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "The file is empty"),
        ("@coffee_jo,12400\n", "must be a header"),
        ("handle,followers,audience\n", "Unknown column(s) 'audience'"),
        ("handle,followers,handle\n", "Column(s) named twice: handle"),
    ],
)
def test_a_file_without_a_proper_header_is_refused_whole(text, message):
    with pytest.raises(IntakeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rows_read(text)


def test_a_new_pool_needs_verticals_and_options_are_checked():
    with pytest.raises(IntakeError, match="is new: give its verticals"):
        run("handle,followers\nfine_one,1\n", verticals=None)
    with pytest.raises(IntakeError, match="not a well-formed BCP-47"):
        run("handle,followers\nfine_one,1\n", language="en_US")
    with pytest.raises(IntakeError, match="'ZZ'"):
        run("handle,followers\nfine_one,1\n", geos="US,ZZ")
    assert not Pool.objects.exists()


def test_an_existing_pool_keeps_what_the_import_does_not_say():
    PoolFactory(name="Coffee US", tags=["coffee"], language="en", geos=["US"])

    run("handle,followers\nfine_one,1\n", verticals=None, geos="US GB")

    pool = Pool.objects.get(name="Coffee US")
    assert (pool.tags, pool.language, pool.geos) == (["coffee"], "en", ["US", "GB"])


def test_the_preview_writes_nothing():
    report = run("handle,followers\nfine_one,1\n", dry_run=True)

    assert [a.handle for a in report.added] == ["fine_one"] and not report.written
    assert not Pool.objects.exists() and not SocialAccount.objects.exists()


def test_warming_imports_have_no_warmed_since():
    run("handle,followers\nslow_one,1\n", state=AccountState.WARMING)

    account = SocialAccount.objects.get()
    assert account.state == "warming" and account.warmed_since is None


def test_a_large_import_runs_a_bounded_number_of_queries(django_assert_max_num_queries):
    lines = "".join(f"acct_{i:05d},{i}\n" for i in range(5000))
    SocialAccountFactory(handle="acct_00007", followers=1)

    # A save per row would be 10,000 statements; PostgreSQL copies them in one go.
    with django_assert_max_num_queries(20):
        report = run("handle,followers\n" + lines)

    assert len(report.added) == 4999 and len(report.updated) == 1
    assert SocialAccount.objects.count() == 5000
    assert AccountEvent.objects.count() == 5000  # 4,999 arrivals and the update


def test_a_follower_count_of_thousands_of_digits_is_a_refused_row_not_a_crash():
    huge = "9" * 4400  # Python refuses int() of more than 4,300 digits

    report = run(f"handle,followers\nbig_one,{huge}\nfine_one,5\n", skip_invalid=True)

    (reason,) = reasons(report).values()
    assert reason.startswith("followers too large (999") and len(reason) < 100
    assert list(SocialAccount.objects.values_list("handle", flat=True)) == ["fine_one"]


def test_nul_bytes_in_refused_cells_are_recorded_readably_with_skip_invalid():
    report = run(
        "handle,followers,geo\nbad\x00one,5,\nfine_one,x\x00y,\nok_one,1,U\x00S\ngood_one,1,\n",
        skip_invalid=True,
    )

    assert report.written
    refused = AccountImport.objects.get().refused
    assert [line for line, _, _ in refused] == [2, 3, 4]
    assert refused[0][1] == "bad\ufffdone"
    assert "\x00" not in repr(refused)
    assert list(SocialAccount.objects.values_list("handle", flat=True)) == ["good_one"]


def test_a_5000_character_cell_is_quoted_short_in_its_refusal():
    report = run("handle,followers\n" + "h" * 5000 + "," + "1x" * 2500 + "\n", skip_invalid=True)

    (refusal,) = report.refused
    assert len(refusal.handle) <= 60 and len(refusal.reason) <= 60


def test_rows_are_checked_and_written_in_chunks_and_a_late_refusal_undoes_the_early_ones(
    monkeypatch,
):
    monkeypatch.setattr("leasing.intake.CHUNK_ROWS", 2)
    text = "handle,followers\none_1,1\ntwo_2,2\nthree_3,3\nfour_4,4\n@ONE_1,5\n"

    report = run(text)

    assert reasons(report) == {6: "duplicate handle: already on line 2"}
    assert report.added_count == 4 and not report.written
    assert not SocialAccount.objects.exists() and not Pool.objects.exists()

    report = run(text, skip_invalid=True, listed=3)

    assert report.written and report.added_count == 4 and len(report.added) == 3
    assert SocialAccount.objects.count() == 4 == AccountEvent.objects.count()
    assert AccountImport.objects.get().added == 4
