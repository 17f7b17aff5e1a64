"""Verticals match however a partner or ops spells them: "Fintech", " fintech" and
"FIN  TECH"-style variants are one vertical in filters, ranking and the home panel,
while the partner's own spelling is what the API and the queue show."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from leasing.intake import accounts_import
from leasing.intake_parsing import IntakeRow
from leasing.models import LeaseRequest, Pool
from leasing.ranking import allocation_candidates
from leasing.roles import OPS
from leasing.validators import vertical_key
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory

QUEUE = reverse("admin:leasing_leaserequest_changelist")


def request_body(partner, vertical):
    return {"projectId": partner.project.pk, "count": 1, "niche": {"vertical": vertical}}


@pytest.fixture
def ops(client, db):
    user = UserFactory(username="ops_v")
    user.groups.add(Group.objects.get(name=OPS))
    client.force_login(user)
    return user


def test_vertical_key_trims_case_folds_and_collapses_inner_whitespace():
    assert vertical_key("  Mobile \t  GAMES ") == "mobile games"
    assert vertical_key("Straße") == "strasse"  # case-folded, not only lower-cased
    assert vertical_key("   ") == ""


@pytest.mark.django_db
def test_partner_keeps_its_spelling_and_the_request_is_matched_on_the_key(partner):
    path = f"/v1/projects/{partner.project.pk}/leased-accounts/request"

    created = partner.client.post(path, request_body(partner, "Fin   Tech"), format="json")

    assert created.status_code == 202, created.content
    lease_request = LeaseRequest.objects.get(public_id=created.json()["requestId"])
    assert (lease_request.vertical, lease_request.vertical_key) == ("Fin   Tech", "fin tech")
    polled = partner.client.get(f"/v1/leased-accounts/requests/{lease_request.public_id}").json()
    assert polled["niche"]["vertical"] == "Fin   Tech"


@pytest.mark.django_db
def test_a_vertical_of_only_spaces_is_refused(partner):
    path = f"/v1/projects/{partner.project.pk}/leased-accounts/request"

    response = partner.client.post(path, request_body(partner, " \t "), format="json")

    assert response.status_code == 422
    assert not LeaseRequest.objects.exists()


def _queue_request(partner, vertical):
    path = f"/v1/projects/{partner.project.pk}/leased-accounts/request"
    response = partner.client.post(path, request_body(partner, vertical), format="json")
    assert response.status_code == 202, response.content
    return LeaseRequest.objects.get(public_id=response.json()["requestId"])


@pytest.mark.django_db
def test_queue_filter_lists_one_entry_per_vertical_and_finds_every_spelling(client, ops, partner):
    spellings = [_queue_request(partner, v) for v in ("Fintech", "fintech", "FINTECH ")]
    other = _queue_request(partner, "coffee")

    page = client.get(QUEUE).content.decode()
    filtered = client.get(QUEUE, {"vertical": "fintech"}).content.decode()
    by_spelling = client.get(QUEUE, {"vertical": "Fintech"}).content.decode()

    assert page.count("?vertical=fintech") == 1
    assert "vertical=Fintech" not in page
    for lease_request in spellings:
        assert lease_request.public_id in filtered and lease_request.public_id in by_spelling
    assert other.public_id not in filtered
    assert "<strong>Fintech</strong>" in filtered  # the partner's spelling is displayed


@pytest.mark.django_db
def test_home_panel_link_for_a_vertical_finds_every_spelling(client, ops, partner):
    spellings = [_queue_request(partner, v) for v in ("Mobile Games", "mobile  games")]
    PoolFactory(tags=["mobile games"])

    home = client.get(reverse("admin:index")).content.decode()

    assert home.count("?vertical=mobile%20games") == 1
    queue = client.get(QUEUE, {"vertical": "mobile games"}).content.decode()
    for lease_request in spellings:
        assert lease_request.public_id in queue


@pytest.mark.django_db
def test_ranking_matches_a_pool_tag_whatever_the_request_spelling(partner):
    pool = PoolFactory(tags=["fin tech"])
    account = SocialAccountFactory(pool=pool)
    lease_request = _queue_request(partner, "FIN  Tech")

    candidates = allocation_candidates(lease_request)

    assert [c.account.pk for c in candidates] == [account.pk]


@pytest.mark.django_db
def test_intake_normalises_pool_verticals():
    accounts_import(
        rows=[IntakeRow(line=2, handle="one_acct", followers="10")],
        pool_name="Mixed",
        verticals="  Fin   Tech , STRASSE, Straße",
    )

    assert Pool.objects.get(name="Mixed").tags == ["fin tech", "strasse"]


@pytest.mark.django_db(transaction=True)
def test_migration_fills_keys_and_normalises_pool_tags():
    executor = MigrationExecutor(connection)
    # Partners back before test mode too: its Organization columns are newer than the
    # models of leasing 0007's state.
    before = [
        ("leasing", "0007_release_end_lease_permission"),
        ("partners", "0002_owner_never_changes"),
    ]
    after = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    organization = old.get_model("partners", "Organization").objects.create(
        id="org_mig", name="Migrated"
    )
    project = old.get_model("partners", "Project").objects.create(
        id="prj_mig", organization=organization, name="P"
    )
    old.get_model("leasing", "Pool").objects.create(name="Old", tags=["Fintech", " fintech"])
    old.get_model("leasing", "LeaseRequest").objects.create(
        organization=organization, project=project, count=1, vertical="Fin  Tech"
    )

    executor = MigrationExecutor(connection)
    executor.migrate(after)

    lease_request = LeaseRequest.objects.get(project_id="prj_mig")
    assert (lease_request.vertical, lease_request.vertical_key) == ("Fin  Tech", "fin tech")
    assert Pool.objects.get(name="Old").tags == ["fintech"]


@pytest.mark.django_db
def test_factory_requests_carry_their_key():
    assert LeaseRequestFactory(vertical=" Coffee ").vertical_key == "coffee"
