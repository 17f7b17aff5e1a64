import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from leasing.models import NoteVisibility, RequestStatus
from leasing.services.requests import request_note_add
from tests.conftest import lease_body, request_url
from tests.factories import LeaseFactory, LeaseRequestFactory, UserFactory

pytestmark = pytest.mark.django_db


def create(partner, **overrides):
    response = partner.client.post(
        request_url(partner.project.pk), lease_body(partner.project.pk, **overrides), format="json"
    )
    assert response.status_code == 202
    return response.json()["requestId"]


def detail_url(partner, request_id):
    return f"/v1/projects/{partner.project.pk}/leased-accounts/requests/{request_id}"


def test_request_shape_after_submission(partner):
    request_id = create(partner, note="Please prefer older accounts")

    response = partner.client.get(detail_url(partner, request_id))

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "requestId": request_id,
        "projectId": partner.project.pk,
        "status": "requested",
        "count": 5,
        "niche": {
            "vertical": "coffee",
            "audience": "home baristas 25–40",  # noqa: RUF001
            "language": "en",
            "geo": ["US", "CA", "GB"],
        },
        "target": "Short-form brew tutorials; paid UGC-style creative for ads.",
        "submittedAt": body["submittedAt"],
        "assignedAt": None,
        "assignedSocialAccountIds": [],
        "note": None,  # the partner's own note is for ops, not echoed as an ops note
    }


def test_note_is_the_latest_partner_visible_one(partner):
    request_id = create(partner)
    from leasing.models import LeaseRequest

    lease_request = LeaseRequest.objects.get(public_id=request_id)
    ops = UserFactory()
    request_note_add(
        lease_request=lease_request,
        body="Pool is thin",
        visibility=NoteVisibility.PARTNER,
        author=ops,
    )
    request_note_add(
        lease_request=lease_request,
        body="Sourcing from GB pool, ETA Friday",
        visibility=NoteVisibility.PARTNER,
        author=ops,
    )
    request_note_add(
        lease_request=lease_request,
        body="internal: partner is on watch",
        visibility=NoteVisibility.INTERNAL,
        author=ops,
    )

    body = partner.client.get(detail_url(partner, request_id)).json()

    assert body["note"] == "Sourcing from GB pool, ETA Friday"


def test_assigned_accounts_are_listed_on_the_request(partner):
    lease_request = LeaseRequestFactory(project=partner.project, status=RequestStatus.PARTIAL)
    leases = LeaseFactory.create_batch(2, lease_request=lease_request)

    body = partner.client.get(detail_url(partner, lease_request.public_id)).json()

    assert body["status"] == "partial"
    assert body["assignedSocialAccountIds"] == [lease.social_account_id for lease in leases]


def test_org_wide_path_finds_a_request_of_any_project(partner):
    request_id = create(partner)

    response = partner.client.get(f"/v1/leased-accounts/requests/{request_id}")

    assert response.status_code == 200
    assert response.json()["projectId"] == partner.project.pk


def test_requests_of_other_orgs_are_not_found(partner, other_partner):
    request_id = create(other_partner)

    for url in (
        f"/v1/leased-accounts/requests/{request_id}",
        f"/v1/projects/{other_partner.project.pk}/leased-accounts/requests/{request_id}",
        f"/v1/projects/{partner.project.pk}/leased-accounts/requests/{request_id}",
        f"/v1/projects/{other_partner.project.pk}/leased-accounts/requests",
        f"/v1/projects/{other_partner.project.pk}/leased-accounts",
    ):
        response = partner.client.get(url)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "NOT_FOUND"


def test_list_is_newest_first_and_filters_by_status(partner):
    older = create(partner)
    newer = create(partner)
    LeaseRequestFactory(project=partner.project, status=RequestStatus.REJECTED, public_id="rej-1")
    url = f"/v1/projects/{partner.project.pk}/leased-accounts/requests"

    everything = partner.client.get(url).json()
    requested = partner.client.get(url, {"status": "requested"}).json()

    assert [r["requestId"] for r in everything["items"]] == ["rej-1", newer, older]
    assert [r["requestId"] for r in requested["items"]] == [newer, older]
    assert everything["nextCursor"] is None


def test_unknown_status_filter_is_validation_error(partner):
    url = f"/v1/projects/{partner.project.pk}/leased-accounts/requests"

    response = partner.client.get(url, {"status": "done"})

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "status"


def test_pages_are_stable_while_requests_arrive(partner):
    ids = [create(partner, requestId=f"r{i:02d}") for i in range(5)]
    url = f"/v1/projects/{partner.project.pk}/leased-accounts/requests"

    first = partner.client.get(url, {"limit": 2}).json()
    create(partner, requestId="arrived-meanwhile")
    second = partner.client.get(url, {"limit": 2, "cursor": first["nextCursor"]}).json()
    third = partner.client.get(url, {"limit": 2, "cursor": second["nextCursor"]}).json()

    seen = [r["requestId"] for page in (first, second, third) for r in page["items"]]
    assert seen == list(reversed(ids))
    assert third["nextCursor"] is None


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "201"}, {"limit": "x"}, {"cursor": "garbage!"}]
)
def test_bad_paging_parameters_are_validation_errors(partner, params):
    url = f"/v1/projects/{partner.project.pk}/leased-accounts/requests"

    response = partner.client.get(url, params)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] in {"limit", "cursor"}


def test_lists_run_the_same_queries_however_many_rows(partner):
    def queries_for(url):
        partner.client.get(url)  # settle one-off writes such as last_used_at
        with CaptureQueriesContext(connection) as captured:
            assert partner.client.get(url).status_code == 200
        return len(captured)

    def add_requests(n):
        for _ in range(n):
            LeaseFactory.create_batch(2, lease_request=LeaseRequestFactory(project=partner.project))

    urls = [
        f"/v1/projects/{partner.project.pk}/leased-accounts/requests",
        f"/v1/projects/{partner.project.pk}/leased-accounts",
        "/v1/leased-accounts",
    ]
    add_requests(1)
    few = [queries_for(url) for url in urls]
    add_requests(6)
    many = [queries_for(url) for url in urls]

    assert few == many


def test_leased_accounts_shape(partner):
    lease = LeaseFactory(lease_request=LeaseRequestFactory(project=partner.project))

    body = partner.client.get(f"/v1/projects/{partner.project.pk}/leased-accounts").json()

    assert body["nextCursor"] is None
    assert body["items"] == [
        {
            "socialAccountId": lease.social_account_id,
            "projectId": partner.project.pk,
            "handle": lease.social_account.handle,
            "platform": "tiktok",
            "followers": lease.social_account.followers,
            "status": "assigned",
            "assignedAt": lease.assigned_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "nextRenewalAt": lease.next_renewal_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "monthlyPriceCents": 15_000,
            "billingStatus": "current",
            "disconnectedAt": None,
            "disconnectedReason": None,
        }
    ]


def test_leased_accounts_default_to_assigned_and_filter_disconnected(partner):
    lease_request = LeaseRequestFactory(project=partner.project)
    active = LeaseFactory(lease_request=lease_request)
    gone = LeaseFactory(lease_request=lease_request, disconnected=True)
    url = f"/v1/projects/{partner.project.pk}/leased-accounts"

    default = partner.client.get(url).json()["items"]
    disconnected = partner.client.get(url, {"status": "disconnected"}).json()["items"]

    assert [a["socialAccountId"] for a in default] == [active.social_account_id]
    assert [a["socialAccountId"] for a in disconnected] == [gone.social_account_id]
    assert partner.client.get(url, {"status": "released"}).status_code == 422


def test_org_wide_leased_accounts_cover_every_project(partner, other_partner):
    from layers_ops.partners.services import project_create

    second = project_create(organization=partner.organization, name="Second")
    a = LeaseFactory(lease_request=LeaseRequestFactory(project=partner.project))
    b = LeaseFactory(lease_request=LeaseRequestFactory(project=second))
    LeaseFactory(lease_request=LeaseRequestFactory(project=other_partner.project))

    items = partner.client.get("/v1/leased-accounts").json()["items"]

    assert {i["socialAccountId"] for i in items} == {a.social_account_id, b.social_account_id}


@pytest.mark.parametrize("limit", ["²", "١٢", "-1", "1.5", "0050"])
def test_odd_limits_are_validation_errors_not_crashes(partner, limit):
    url = f"/v1/projects/{partner.project.pk}/leased-accounts/requests"

    response = partner.client.get(url, {"limit": limit})

    assert response.status_code == 422
