"""python manage.py import_accounts: output, exit codes, all-or-nothing, --skip-invalid."""

import io

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connections

from leasing.models import AccountEvent, Pool, SocialAccount

pytestmark = pytest.mark.django_db

GOOD = "handle,followers,geo\n@coffee_jo,12400,US|CA\nbrew.daily,9800,\n"
MIXED = "handle,followers,geo\ncoffee_jo,12400,US\nbad handle,5,US\nlatte_lab,-1,\n"


def import_file(tmp_path, text, *args):
    path = tmp_path / "accounts.csv"
    path.write_text(text, encoding="utf-8")
    out = io.StringIO()
    call_command("import_accounts", str(path), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_imports_a_file_into_a_new_pool_and_says_what_it_added(tmp_path):
    out = import_file(
        tmp_path, GOOD, "--pool", "Coffee US", "--verticals", "coffee,food", "--geo", "US,CA"
    )

    assert "New pool 'Coffee US'." in out
    assert "Added 2 ready account(s):" in out
    assert "line 2: @coffee_jo, 12,400 followers, geos US, CA" in out
    assert "Refused 0 row(s)." in out
    pool = Pool.objects.get(name="Coffee US")
    assert pool.tags == ["coffee", "food"] and pool.geos == ["US", "CA"]
    assert SocialAccount.objects.filter(pool=pool, state="ready").count() == 2
    assert AccountEvent.objects.filter(actor_label="system", to_state="ready").count() == 2


def test_a_bad_row_fails_the_command_and_changes_nothing(tmp_path):
    with pytest.raises(CommandError, match="2 row\\(s\\) refused, so nothing was imported"):
        import_file(tmp_path, MIXED, "--pool", "Coffee US", "--verticals", "coffee")

    assert not SocialAccount.objects.exists() and not Pool.objects.exists()


def test_refusals_are_printed_with_line_and_reason(tmp_path, capsys):
    path = tmp_path / "accounts.csv"
    path.write_text(MIXED)

    with pytest.raises(CommandError):
        call_command("import_accounts", str(path), "--pool", "P", "--verticals", "coffee")

    out = capsys.readouterr().out
    assert "Would have added 1 ready account(s):" in out
    assert "line 3: bad handle: bad handle: use 2-24 letters" in out
    assert "line 4: latte_lab: followers cannot be negative (-1)" in out


def test_skip_invalid_imports_the_rest_and_exits_cleanly(tmp_path):
    out = import_file(
        tmp_path, MIXED, "--pool", "Coffee US", "--verticals", "coffee", "--skip-invalid"
    )

    assert "Added 1 ready account(s):" in out and "Refused 2 row(s):" in out
    assert list(SocialAccount.objects.values_list("handle", flat=True)) == ["coffee_jo"]


def test_warming_state_and_an_existing_handle_updated(tmp_path):
    import_file(tmp_path, GOOD, "--pool", "Coffee US", "--verticals", "coffee")

    out = import_file(
        tmp_path,
        "handle,followers\ncoffee_jo,13000\nnew_one,5\n",
        "--pool",
        "Coffee US",
        "--state",
        "warming",
    )

    assert "Updated 1 account(s):" in out
    assert "@coffee_jo (ready), followers 12,400 -> 13,000" in out
    assert SocialAccount.objects.get(handle="coffee_jo").state == "ready"
    assert SocialAccount.objects.get(handle="new_one").state == "warming"
    assert SocialAccount.objects.count() == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pool", "New pool"], "is new: give its verticals"),
        (["--pool", "P", "--verticals", "coffee", "--language", "english"], "not a registered"),
        (["--pool", "P", "--verticals", "coffee", "--geo", "US,XX"], "'XX'"),
    ],
)
def test_bad_options_fail_before_anything_is_written(tmp_path, args, message):
    with pytest.raises(CommandError, match=message):
        import_file(tmp_path, GOOD, *args)

    assert not SocialAccount.objects.exists()


def test_a_missing_or_non_utf8_file_is_refused(tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_accounts", str(tmp_path / "nope.csv"), "--pool", "P")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("handle,followers\ncafé_jo,1\n".encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_accounts", str(latin), "--pool", "P", "--verticals", "coffee")


def test_exit_status_is_1_when_refused_and_0_when_imported(tmp_path, capsys, monkeypatch):
    # As `python manage.py` runs it; it closes connections when done, which would end the
    # test's transaction, so closing is skipped here.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    path = tmp_path / "accounts.csv"
    path.write_text(MIXED)
    argv = ["manage.py", "import_accounts", str(path), "--pool", "P", "--verticals", "coffee"]

    with pytest.raises(SystemExit) as refused:
        execute_from_command_line(argv)

    assert refused.value.code == 1
    assert "nothing was imported" in capsys.readouterr().err
    execute_from_command_line([*argv, "--skip-invalid"])  # returns: exit status 0
    assert SocialAccount.objects.count() == 1


def test_a_huge_follower_count_and_a_nul_byte_are_refused_rows_not_a_traceback(tmp_path):
    text = "handle,followers\nbig_one," + "7" * 4400 + "\nnul\x00one,5\nfine_one,5\n"

    with pytest.raises(CommandError, match="2 row\\(s\\) refused, so nothing was imported"):
        import_file(tmp_path, text, "--pool", "P", "--verticals", "coffee")
    assert not SocialAccount.objects.exists()

    out = import_file(tmp_path, text, "--pool", "P", "--verticals", "coffee", "--skip-invalid")

    assert "line 2: big_one: followers too large (7777" in out
    assert "line 3: nul\ufffdone: bad handle" in out
    assert list(SocialAccount.objects.values_list("handle", flat=True)) == ["fine_one"]


def test_reads_standard_input_and_lists_the_first_20_unless_verbose(monkeypatch, capsys):
    lines = "".join(f"acct_{i:03d},{i}\n" for i in range(25))
    monkeypatch.setattr(
        "sys.stdin", io.TextIOWrapper(io.BytesIO(b"handle,followers\n" + lines.encode()))
    )

    call_command("import_accounts", "-", "--pool", "P", "--verticals", "coffee")

    out = capsys.readouterr().out
    assert "Added 25 ready account(s):" in out and "line 21: @acct_019" in out
    assert "line 22: @acct_020" not in out and "... and 5 more (-v 2 lists them all)" in out
    assert SocialAccount.objects.count() == 25
