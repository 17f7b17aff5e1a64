"""Staff lifecycle from the command line: a one-time link, never a password."""

import io
import re

import pytest
from django.core.management import CommandError, call_command

from layers_ops.staff.models import SignInEvent, SignInEventKind
from leasing.roles import FINANCE, OPS

pytestmark = pytest.mark.django_db


def create_staff(*args) -> str:
    out = io.StringIO()
    call_command("create_staff", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(("role", "group"), [("ops", OPS), ("finance", FINANCE)])
def test_create_staff_puts_the_user_in_the_role_and_prints_a_link_not_a_password(
    role, group, django_user_model
):
    output = create_staff("fran", "--role", role, "--email", "fran@example.com")

    user = django_user_model.objects.get(username="fran")
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == [group]
    assert re.search(r"http://127\.0\.0\.1:8000/admin/welcome/\w+/[\w-]+/$", output, re.M)
    assert "password" not in output.lower()
    assert SignInEvent.objects.filter(kind=SignInEventKind.INVITED, username="fran").exists()


def test_the_link_sets_a_password_once(client):
    path = re.search(r"(/admin/welcome/\S+)", create_staff("fran", "--role", "ops")).group(1)
    new = {"new_password1": "a long passphrase 42", "new_password2": "a long passphrase 42"}

    assert client.post(path, new).status_code == 302
    client.logout()
    assert "cannot be used" in client.get(path).content.decode()


def test_create_staff_refuses_an_existing_user_and_a_missing_role():
    create_staff("fran", "--role", "ops")
    with pytest.raises(CommandError, match="exists already"):
        create_staff("Fran", "--role", "finance")
    with pytest.raises(CommandError, match="--role is required"):
        create_staff("sam")


def test_a_new_link_voids_the_old_password(django_user_model):
    create_staff("fran", "--role", "ops")
    user = django_user_model.objects.get(username="fran")
    user.set_password("an old password 99")
    user.save()

    output = create_staff("fran", "--new-link")

    user.refresh_from_db()
    assert not user.has_usable_password()
    assert "/admin/welcome/" in output


def test_deactivate_staff_refuses_twice_and_names_unknown_users():
    create_staff("fran", "--role", "ops")
    call_command("deactivate_staff", "fran", stdout=io.StringIO())
    with pytest.raises(CommandError, match="already deactivated"):
        call_command("deactivate_staff", "fran", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no staff user named 'nobody'"):
        call_command("deactivate_staff", "nobody", stdout=io.StringIO())
