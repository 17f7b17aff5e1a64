"""How the consoles read: short ids with the whole id at hand, a save that changed
nothing says so, and a refused page still looks like the admin."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse

from layers_ops.admin_display import short_id
from leasing.roles import OPS
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


def staff(client, group_name):
    user = UserFactory(username=f"{group_name.lower()}-display")
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    return user


def test_a_long_id_shows_its_ends_and_keeps_the_whole_id_to_copy():
    html = str(short_id("lreq_01M8NMYHC1K86WH5RZ37BZKYAR", "/admin/x/"))

    assert '<a href="/admin/x/">lreq_01M8…KYAR</a>' in html
    assert 'title="lreq_01M8NMYHC1K86WH5RZ37BZKYAR"' in html
    assert 'data-copy="lreq_01M8NMYHC1K86WH5RZ37BZKYAR"' in html


def test_a_short_id_is_shown_whole_and_markup_in_an_id_is_escaped():
    assert ">WIRE-1<" in str(short_id("WIRE-1"))
    assert "<script>" not in str(short_id("<script>alert(1)</script>-long-reference"))


def test_save_with_nothing_changed_says_nothing_changed(client):
    staff(client, OPS)
    organization = OrganizationFactory(name="Acme")
    url = reverse("admin:partners_organization_change", args=[organization.pk])
    form = {
        "name": "Acme",
        "projects-TOTAL_FORMS": "0",
        "projects-INITIAL_FORMS": "0",
        "_save": "Save",
    }

    page = client.post(url, form, follow=True).content.decode()

    assert "Nothing changed: Acme was left as it was." in page
    assert "was changed successfully" not in page
    assert not LogEntry.objects.filter(object_id=organization.pk).exists()


def test_save_with_a_change_still_says_it_was_changed(client):
    staff(client, OPS)
    organization = OrganizationFactory(name="Acme")
    url = reverse("admin:partners_organization_change", args=[organization.pk])
    form = {
        "name": "Acme Corp",
        "projects-TOTAL_FORMS": "0",
        "projects-INITIAL_FORMS": "0",
        "_save": "Save",
    }

    page = client.post(url, form, follow=True).content.decode()

    assert "was changed successfully" in page and "Nothing changed" not in page


def test_a_refused_admin_page_looks_like_the_admin(client):
    staff(client, OPS)

    response = client.get(reverse("admin:billing_wallet_changelist"))

    assert response.status_code == 403
    page = response.content.decode()
    assert 'id="site-name"' in page and "Log out" in page
    assert "You are not allowed to open this page" in page
    assert 'href="/admin/"' in page
