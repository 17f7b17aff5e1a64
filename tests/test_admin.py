import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from billing.services.movements import wallet_fund
from layers_ops.partners.models import ApiKey
from leasing.models import NoteVisibility, RequestNote
from leasing.roles import FINANCE, OPS
from tests.conftest import bearer_client
from tests.factories import LeaseRequestFactory, OrganizationFactory, UserFactory
from tests.once import once

pytestmark = pytest.mark.django_db


def staff(client, group_name):
    user = UserFactory(username=group_name.lower())
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    return user


def add_key(client, organization, *, follow=False, **fields):
    """Post the admin's "Add API key" form."""
    form = {
        "organization": organization.pk,
        "name": "prod backend",
        "environment": "live",
        "scopes": ["leased:read", "leased:write"],
        "rate_limit_tier": "pilot",
        **fields,
    }
    return client.post(reverse("admin:partners_apikey_add"), form, follow=follow)


def test_ops_issues_a_key_in_the_admin_and_sees_it_once(client):
    staff(client, OPS)
    org = OrganizationFactory()

    response = add_key(client, org, follow=True)

    assert response.status_code == 200
    token = re.search(r"<code>(lp_live_[A-Za-z0-9_]+)</code>", response.content.decode()).group(1)
    key = ApiKey.objects.get(organization=org)
    assert key.scopes == ["leased:read", "leased:write"] and key.rate_limit_tier == "pilot"
    assert bearer_client(token).get("/v1/whoami").json()["apiKeyId"] == key.pk
    # Shown once: the key's own page never shows the secret again.
    page = client.get(reverse("admin:partners_apikey_change", args=[key.pk])).content.decode()
    assert token.rsplit("_", 1)[1] not in page


def test_ops_revokes_keys_with_an_admin_action(client, partner):
    staff(client, OPS)

    client.post(
        reverse("admin:partners_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [partner.api_key.pk]},
    )

    assert partner.client.get("/v1/whoami").status_code == 401


def test_ops_leave_notes_that_partners_read(client, partner):
    ops = staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project)
    url = reverse("admin:leasing_leaserequest_change", args=[lease_request.pk])

    response = client.post(
        url,
        {
            **once(client),
            "notes-TOTAL_FORMS": "1",
            "notes-INITIAL_FORMS": "0",
            "notes-0-body": "Sourcing from the GB pool; ETA Friday",
            "notes-0-visibility": NoteVisibility.PARTNER,
        },
    )

    assert response.status_code == 302
    note = RequestNote.objects.get()
    assert note.author == ops
    polled = partner.client.get(f"/v1/leased-accounts/requests/{lease_request.public_id}")
    assert polled.json()["note"] == "Sourcing from the GB pool; ETA Friday"


def test_queue_lists_open_requests_oldest_first(client, partner):
    staff(client, OPS)
    first = LeaseRequestFactory(project=partner.project)
    second = LeaseRequestFactory(project=partner.project)

    page = client.get(reverse("admin:leasing_leaserequest_changelist")).content.decode()

    assert page.index(first.public_id) < page.index(second.public_id)


def test_finance_sees_wallets_and_ledger_and_reads_the_queue(client):
    staff(client, FINANCE)
    wallet_fund(organization=OrganizationFactory(), amount_cents=45_000)

    assert client.get(reverse("admin:billing_wallet_changelist")).status_code == 200
    assert client.get(reverse("admin:billing_ledgerentry_changelist")).status_code == 200
    assert client.get(reverse("admin:leasing_leaserequest_changelist")).status_code == 200
    assert client.get(reverse("admin:partners_apikey_add")).status_code == 403


def test_ops_cannot_see_the_ledger(client):
    staff(client, OPS)

    assert client.get(reverse("admin:billing_ledgerentry_changelist")).status_code == 403
    assert client.get(reverse("admin:billing_wallet_changelist")).status_code == 403


def test_ledger_admin_is_read_only_even_for_superusers(admin_client):
    txn = wallet_fund(organization=OrganizationFactory(), amount_cents=1_000)

    assert admin_client.get(reverse("admin:billing_ledgerentry_add")).status_code == 403
    change = admin_client.post(
        reverse("admin:billing_ledgertransaction_change", args=[txn.pk]), {"memo": "edited"}
    )
    assert change.status_code == 403
    delete = admin_client.post(
        reverse("admin:billing_ledgertransaction_delete", args=[txn.pk]), {"post": "yes"}
    )
    assert delete.status_code == 403


def test_queue_opens_on_open_requests_and_can_show_all(client, partner):
    staff(client, OPS)
    waiting = LeaseRequestFactory(project=partner.project)
    closed = LeaseRequestFactory(project=partner.project, status="rejected")
    url = reverse("admin:leasing_leaserequest_changelist")

    default = client.get(url).content.decode()
    everything = client.get(url, {"status": "all"}).content.decode()

    assert waiting.public_id in default and closed.public_id not in default
    assert waiting.public_id in everything and closed.public_id in everything


def test_root_sends_staff_to_the_admin(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_a_new_key_never_travels_in_a_cookie(client):
    staff(client, OPS)
    org = OrganizationFactory()

    response = add_key(client, org, name="cookie check")

    assert response.status_code == 302
    assert "lp_live_" not in str(response.cookies)


def test_a_project_cannot_be_moved_to_another_organization(client, partner, other_partner):
    staff(client, OPS)
    url = reverse("admin:partners_project_change", args=[partner.project.pk])

    client.post(url, {"organization": other_partner.organization.pk, "name": "moved"})

    partner.project.refresh_from_db()
    assert partner.project.organization == partner.organization


@pytest.mark.parametrize("model", ["project", "api_key"])
def test_the_database_refuses_moving_a_project_or_key(partner, other_partner, model):
    from django.db import IntegrityError, InternalError, transaction

    row = getattr(partner, model)
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        type(row).objects.filter(pk=row.pk).update(organization=other_partner.organization)

    row.refresh_from_db()
    assert row.organization_id == partner.organization.pk


@pytest.mark.parametrize(
    "url",
    [
        "/admin/leasing/leaserequest/?status=%00",
        "/admin/leasing/leaserequest/?vertical=%00",
        "/admin/leasing/leaserequest/?q=%00",
        "/admin/billing/ledgertransaction/?kind=%00",
        "/admin/partners/apikey/%00/change/",
        "/admin/partners/organization/a%00b/change/",
    ],
)
def test_a_nul_in_an_admin_url_is_a_400_page_not_a_500(admin_client, url):
    admin_client.raise_request_exception = False

    response = admin_client.get(url)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
