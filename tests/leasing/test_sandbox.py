"""Test mode: an lp_test_ key works in its organization's twin, apart from live data,
and its requests fulfil themselves through the job engine."""

import json
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from billing.models import TransactionKind
from billing.selectors import live_wallets, revenue_by_month, wallet_balance_cents
from layers_ops.partners.models import KeyEnvironment, Organization
from layers_ops.partners.services import api_key_create, project_create
from leasing.models import Lease, LeaseRequest, RequestStatus, SocialAccount
from leasing.queue_panel import queue_panel
from leasing.services.requests import lease_request_cancel
from leasing.services.sandbox import sandbox_request_fulfil
from tests.api.test_head import get_endpoints
from tests.conftest import Partner, bearer_client, lease_body, make_partner, request_url
from tests.jobs.worker import jobs, jobs_run

PRICE = 15_000


def sandbox_of(partner) -> Partner:
    """The partner's test key, its twin organization and the twin's mirror project."""
    issued = api_key_create(
        organization=partner.organization, name="test", scopes=["*"], environment="test"
    )
    twin = issued.api_key.organization
    return Partner(
        organization=twin,
        project=twin.projects.get(name=partner.project.name),
        api_key=issued.api_key,
        token=issued.token,
        client=bearer_client(issued.token),
    )


def ask(partner, vertical="coffee", count=4, **fields):
    body = lease_body(partner.project.pk, count=count, **fields)
    body["niche"]["vertical"] = vertical
    response = partner.client.post(request_url(partner.project.pk), body, format="json")
    assert response.status_code == 202, response.content
    return LeaseRequest.objects.get(
        organization=partner.organization, public_id=response.json()["requestId"]
    )


@pytest.fixture
def now_fulfilled(settings):
    settings.SANDBOX_FULFIL_SECONDS = 0


# The twin -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_test_key_belongs_to_a_funded_twin_with_mirrored_projects(partner, settings):
    sandbox = sandbox_of(partner)
    twin = sandbox.organization

    assert twin.environment == KeyEnvironment.TEST
    assert twin.live_organization == partner.organization
    assert sandbox.project.pk != partner.project.pk
    assert wallet_balance_cents(organization_id=twin.pk) == settings.SANDBOX_WALLET_CENTS
    assert twin.pk not in set(live_wallets().values_list("organization_id", flat=True))
    # A second test key joins the same twin; a new live project is mirrored at once.
    again = api_key_create(organization=partner.organization, name="2", environment="test")
    project_create(organization=partner.organization, name="Second")
    assert again.api_key.organization == twin
    assert set(twin.projects.values_list("name", flat=True)) == {partner.project.name, "Second"}
    assert Organization.objects.filter(live_organization=partner.organization).count() == 1


@pytest.mark.django_db
def test_create_api_key_for_test_mode_prints_the_twin_and_its_projects(partner):
    out = StringIO()
    call_command("create_api_key", "--org", partner.organization.pk, "--env", "test", stdout=out)
    printed = json.loads(out.getvalue())

    twin = Organization.objects.get(live_organization=partner.organization)
    assert printed["organizationId"] == twin.pk
    assert printed["environment"] == "test"
    assert printed["projects"] == [{"id": p.pk, "name": p.name} for p in twin.projects.all()]
    assert printed["apiKey"].startswith("lp_test_")


@pytest.mark.django_db
def test_whoami_says_the_environment(partner):
    sandbox = sandbox_of(partner)

    assert partner.client.get("/v1/whoami").json()["environment"] == "live"
    assert sandbox.client.get("/v1/whoami").json()["environment"] == "test"


# Isolation ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_endpoint_keeps_live_and_test_data_apart_both_ways(partner):
    sandbox = sandbox_of(partner)
    for owner, stranger in ((partner, sandbox), (sandbox, partner)):
        for url in get_endpoints(owner):
            assert owner.client.get(url).status_code == 200, url
            answer = stranger.client.get(url)
            if any(i in url for i in ("prj_", "whe_", "whd_", "sa_", "lreq_")):
                assert answer.status_code == 404, url  # the other mode's id: no such thing
            else:
                assert answer.status_code == 200, url  # the stranger's own data, only
                owner_ids = {owner.organization.pk, owner.project.pk}
                assert not any(i in answer.content.decode() for i in owner_ids), url
    request = ask(partner)
    other_url = f"/v1/projects/{sandbox.project.pk}/leased-accounts/requests/{request.public_id}"
    assert sandbox.client.get(other_url).status_code == 404
    assert sandbox.client.get(f"/v1/leased-accounts/requests/{request.public_id}").status_code == (
        404
    )
    # Writing with the other mode's ids is refused as well.
    assert (
        sandbox.client.post(
            request_url(partner.project.pk), lease_body(partner.project.pk), format="json"
        ).status_code
        == 404
    )
    assert (
        partner.client.post(
            request_url(sandbox.project.pk), lease_body(sandbox.project.pk), format="json"
        ).status_code
        == 404
    )


# Fulfilment -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_test_request_fulfils_itself_in_full_and_charges_the_sandbox_wallet(
    now_fulfilled, settings
):
    partner = make_partner()
    sandbox = sandbox_of(partner)
    live_before = wallet_balance_cents(organization_id=partner.organization.pk)
    request = ask(sandbox, count=4)
    assert queue_panel().open_requests == 0  # never in front of ops

    jobs_run(queues=["maintenance"])

    request.refresh_from_db()
    assert request.status == RequestStatus.ASSIGNED
    assert request.leases.count() == 4
    listed = sandbox.client.get(f"/v1/projects/{sandbox.project.pk}/leased-accounts").json()
    assert len(listed["items"]) == 4
    assert wallet_balance_cents(organization_id=sandbox.organization.pk) == (
        settings.SANDBOX_WALLET_CENTS - 4 * PRICE
    )
    assert wallet_balance_cents(organization_id=partner.organization.pk) == live_before
    assert [j["status"] for j in jobs(task_name="leasing.tasks.sandbox_request_fulfil")] == [
        "succeeded"
    ]


@pytest.mark.django_db(transaction=True)
def test_sandbox_ids_and_handles_are_the_same_in_every_run(now_fulfilled):
    runs = []
    for _ in range(2):
        sandbox = sandbox_of(make_partner())
        ask(sandbox, count=3, requestId="order-42")
        jobs_run(queues=["maintenance"])
        runs.append(
            list(
                Lease.objects.filter(project=sandbox.project)
                .order_by("social_account__handle")
                .values_list("social_account_id", "social_account__handle")
            )
        )
    # The second organization's accounts cannot take the first one's names: salted by
    # its organization, but still derived (the same in its every run).
    assert len(runs[0]) == len(runs[1]) == 3
    assert all(i.startswith("sa_") and h.startswith("sandbox_") for i, h in runs[0])
    assert set(runs[0]).isdisjoint(runs[1])


@pytest.mark.django_db
def test_the_same_request_gets_the_same_accounts_across_databases(partner, now_fulfilled):
    from leasing.services.sandbox import _identity

    sandbox = sandbox_of(partner)
    request = ask(sandbox, count=2, requestId="order-7")
    sandbox_request_fulfil(lease_request_id=request.pk)

    expected = sorted(_identity(f"order-7:{i}")[:2] for i in range(2))
    got = sorted(request.leases.values_list("social_account_id", "social_account__handle"))
    assert got == expected


@pytest.mark.django_db
def test_sandbox_partial_assigns_half_and_closes_partial_with_a_note(partner):
    sandbox = sandbox_of(partner)
    request = ask(sandbox, vertical="sandbox-partial", count=5)

    assert sandbox_request_fulfil(lease_request_id=request.pk) == RequestStatus.PARTIAL
    answer = sandbox.client.get(f"/v1/leased-accounts/requests/{request.public_id}").json()
    assert answer["status"] == "partial"
    assert request.leases.count() == 2
    assert "sandbox-partial" in answer["note"]


@pytest.mark.django_db
def test_sandbox_reject_closes_rejected_with_a_note_and_charges_nothing(partner, settings):
    sandbox = sandbox_of(partner)
    request = ask(sandbox, vertical="Sandbox-Reject", count=3)

    assert sandbox_request_fulfil(lease_request_id=request.pk) == RequestStatus.REJECTED
    answer = sandbox.client.get(f"/v1/leased-accounts/requests/{request.public_id}").json()
    assert answer["status"] == "rejected"
    assert "sandbox-reject" in answer["note"]
    assert wallet_balance_cents(organization_id=sandbox.organization.pk) == (
        settings.SANDBOX_WALLET_CENTS
    )


@pytest.mark.django_db(transaction=True)
def test_sandbox_slow_is_queued_for_an_hour_later(now_fulfilled):
    sandbox = sandbox_of(make_partner())
    request = ask(sandbox, vertical="sandbox-slow", count=1)

    jobs_run(queues=["maintenance"])  # nothing due yet
    request.refresh_from_db()
    assert request.status == RequestStatus.REQUESTED
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT scheduled_at FROM procrastinate_jobs")
        (scheduled,) = cursor.fetchone()
    assert scheduled - request.submitted_at == timedelta(hours=1)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE procrastinate_jobs SET scheduled_at = now()")
    jobs_run(queues=["maintenance"])
    request.refresh_from_db()
    assert request.status == RequestStatus.ASSIGNED


@pytest.mark.django_db
def test_the_job_twice_assigns_once_and_a_cancel_first_wins(partner, settings):
    sandbox = sandbox_of(partner)
    request = ask(sandbox, count=2)
    sandbox_request_fulfil(lease_request_id=request.pk)
    sandbox_request_fulfil(lease_request_id=request.pk)
    assert request.leases.count() == 2
    assert wallet_balance_cents(organization_id=sandbox.organization.pk) == (
        settings.SANDBOX_WALLET_CENTS - 2 * PRICE
    )

    cancelled = ask(sandbox, count=2)
    lease_request_cancel(lease_request=cancelled, api_key=sandbox.api_key)
    assert sandbox_request_fulfil(lease_request_id=cancelled.pk) == RequestStatus.CANCELLED
    assert cancelled.leases.count() == 0


@pytest.mark.django_db
def test_a_short_sandbox_wallet_assigns_what_it_covers(partner):
    sandbox = sandbox_of(partner)
    request = ask(sandbox, count=21)  # $3,000 covers 20

    assert sandbox_request_fulfil(lease_request_id=request.pk) == RequestStatus.PARTIAL
    assert request.leases.count() == 20
    assert wallet_balance_cents(organization_id=sandbox.organization.pk) == 0
    # And an empty sandbox wallet is 402, as live.
    refused = sandbox.client.post(
        request_url(sandbox.project.pk), lease_body(sandbox.project.pk), format="json"
    )
    assert refused.status_code == 402


@pytest.mark.django_db
def test_live_requests_never_get_sandbox_accounts(partner):
    sandbox = sandbox_of(partner)
    request = ask(sandbox, count=2, vertical="coffee")
    sandbox_request_fulfil(lease_request_id=request.pk)
    for account in SocialAccount.objects.filter(leases__lease_request=request):
        account.leases.update(
            status="disconnected", disconnected_at=timezone.now(), disconnected_reason="ops"
        )
    SocialAccount.objects.filter(leases__lease_request=request).update(state="ready")
    from leasing.ranking import ready_supply_count

    live = ask(partner, count=1, vertical="coffee")
    assert ready_supply_count(live) == 0


# Sandbox top-up -------------------------------------------------------------------------


@pytest.mark.django_db
def test_sandbox_top_up_adds_test_money_once_per_idempotency_key(partner, settings):
    sandbox = sandbox_of(partner)
    url = reverse("wallet-sandbox-top-up")
    headers = {"HTTP_IDEMPOTENCY_KEY": str(uuid.uuid4())}

    first = sandbox.client.post(url, {"amountCents": 50_000}, format="json", **headers)
    again = sandbox.client.post(url, {"amountCents": 50_000}, format="json", **headers)

    assert first.status_code == again.status_code == 200
    assert first.json()["balanceCents"] == settings.SANDBOX_WALLET_CENTS + 50_000
    assert again.json() == first.json()
    assert wallet_balance_cents(organization_id=sandbox.organization.pk) == (
        settings.SANDBOX_WALLET_CENTS + 50_000
    )
    for bad in (0, -5, 1_000_001, "lots"):
        refused = sandbox.client.post(url, {"amountCents": bad}, format="json")
        assert refused.status_code == 422, bad
        assert refused.json()["error"]["code"] == "VALIDATION"


@pytest.mark.django_db
def test_sandbox_top_up_with_a_live_key_is_404_and_moves_nothing(partner):
    before = wallet_balance_cents(organization_id=partner.organization.pk)
    refused = partner.client.post(
        reverse("wallet-sandbox-top-up"), {"amountCents": 50_000}, format="json"
    )

    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "NOT_FOUND"
    assert wallet_balance_cents(organization_id=partner.organization.pk) == before


# Finance and ops see live data ----------------------------------------------------------


@pytest.mark.django_db
def test_live_money_totals_ignore_test_money(partner):
    sandbox = sandbox_of(partner)
    request = ask(sandbox, count=3)
    sandbox_request_fulfil(lease_request_id=request.pk)

    this_month = revenue_by_month(months=1)[-1]
    assert this_month.first_month_cents == 0
    assert set(live_wallets().values_list("organization_id", flat=True)) == {
        partner.organization.pk
    }
    assert sandbox.organization.pk in set(
        live_wallets().model.objects.values_list("organization_id", flat=True)
    )
    from billing.models import LedgerTransaction

    assert (
        LedgerTransaction.objects.filter(
            kind=TransactionKind.CHARGE, reference=request.public_id
        ).count()
        == 3
    )


@pytest.mark.django_db
def test_ops_panel_and_metrics_leave_test_requests_out(partner):
    sandbox = sandbox_of(partner)
    ask(sandbox, count=2)
    ask(partner, count=1)

    assert queue_panel().open_requests == 1
    assert all(v.vertical != "sandbox" for v in queue_panel().verticals)


@pytest.mark.django_db
def test_ops_cannot_give_a_live_account_to_a_test_mode_request():
    from leasing.services.allocation import allocation_assign
    from leasing.services.errors import LeasingError
    from tests.factories import (
        LeaseRequestFactory,
        PoolFactory,
        SocialAccountFactory,
        UserFactory,
    )

    sandbox = sandbox_of(make_partner())
    request = LeaseRequestFactory(project=sandbox.project, count=1, vertical="coffee")
    account = SocialAccountFactory(pool=PoolFactory(tags=["coffee"]))
    with pytest.raises(LeasingError, match="test-mode"):
        allocation_assign(lease_request=request, accounts=[account], actor=UserFactory())
    account.refresh_from_db()
    assert account.state == "ready"
