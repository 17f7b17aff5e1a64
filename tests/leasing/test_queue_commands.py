"""`allocate` and `close_request`: the queue from the command line, same services."""

import io
import json

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from billing.selectors import wallet_balance_cents
from leasing.models import Lease, NoteVisibility, RequestNote
from tests.conftest import make_partner
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory

pytestmark = pytest.mark.django_db

PRICE = settings.LEASE_PRICE_CENTS


def run(*args) -> dict:
    out = io.StringIO()
    call_command(*args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def ready(n):
    pool = PoolFactory(tags=["coffee"])
    return [SocialAccountFactory(pool=pool, followers=1000 * (i + 1)) for i in range(n)]


def test_allocate_best_n_prints_the_request(partner):
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    accounts = ready(4)
    UserFactory(username="ops-cli")

    printed = run("allocate", lease_request.public_id, "--count", "2", "--actor", "ops-cli")

    assert printed["requestId"] == lease_request.public_id
    assert printed["status"] == "requested"
    assert sorted(printed["assignedSocialAccountIds"]) == sorted(a.pk for a in accounts[2:])
    assert {lease.assigned_by.username for lease in Lease.objects.all()} == {"ops-cli"}
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 - 2 * PRICE


def test_allocate_named_accounts_completes_the_request(partner):
    lease_request = LeaseRequestFactory(project=partner.project, count=2)
    accounts = ready(3)

    printed = run("allocate", lease_request.public_id, "--accounts", accounts[0].pk, accounts[2].pk)

    assert printed["status"] == "assigned"
    assert sorted(printed["assignedSocialAccountIds"]) == sorted([accounts[0].pk, accounts[2].pk])


def test_allocate_refusal_is_one_line_and_changes_nothing(partner):
    lease_request = LeaseRequestFactory(project=partner.project, count=2)
    ready(1)

    with pytest.raises(CommandError, match="Only 1 ready account") as refused:
        run("allocate", lease_request.public_id, "--count", "2")
    assert "\n" not in str(refused.value)
    assert not Lease.objects.exists()


def test_ambiguous_request_id_needs_the_org():
    first, second = make_partner(), make_partner()
    LeaseRequestFactory(project=first.project, public_id="shared-1")
    mine = LeaseRequestFactory(project=second.project, public_id="shared-1", count=1)
    ready(1)

    with pytest.raises(CommandError, match="more than one organization"):
        run("allocate", "shared-1", "--count", "1")
    printed = run("allocate", "shared-1", "--org", second.organization.pk, "--count", "1")
    assert printed["status"] == "assigned"
    assert Lease.objects.get().lease_request == mine


def test_unknown_request_or_user_is_refused(partner):
    lease_request = LeaseRequestFactory(project=partner.project)

    with pytest.raises(CommandError, match="No lease request"):
        run("allocate", "nope", "--count", "1")
    with pytest.raises(CommandError, match="No user 'ghost'"):
        run("allocate", lease_request.public_id, "--count", "1", "--actor", "ghost")


def test_close_partial_with_a_partner_visible_note(partner):
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    ready(1)
    ops = UserFactory(username="ops-cli")
    run("allocate", lease_request.public_id, "--count", "1")

    printed = run(
        "close_request",
        lease_request.public_id,
        "--partial",
        "--note",
        "One fits; more next month.",
        "--partner-visible",
        "--actor",
        "ops-cli",
    )

    assert printed["status"] == "partial" and len(printed["assignedSocialAccountIds"]) == 1
    note = RequestNote.objects.get()
    assert (note.author, note.visibility) == (ops, NoteVisibility.PARTNER)
    polled = partner.client.get(f"/v1/leased-accounts/requests/{lease_request.public_id}").json()
    assert polled["note"] == "One fits; more next month." and polled["status"] == "partial"


def test_close_refusals(partner):
    UserFactory(username="ops-cli")
    lease_request = LeaseRequestFactory(project=partner.project)

    with pytest.raises(CommandError, match="reject the request instead"):
        run(
            "close_request",
            lease_request.public_id,
            "--partial",
            "--note",
            "x",
            "--actor",
            "ops-cli",
        )
    printed = run(
        "close_request",
        lease_request.public_id,
        "--reject",
        "--note",
        "no pool",
        "--actor",
        "ops-cli",
    )
    assert printed == {
        "requestId": lease_request.public_id,
        "status": "rejected",
        "assignedSocialAccountIds": [],
    }
    with pytest.raises(CommandError, match="already rejected"):
        run(
            "close_request",
            lease_request.public_id,
            "--reject",
            "--note",
            "x",
            "--actor",
            "ops-cli",
        )


def test_close_without_an_actor_is_written_by_the_system(partner):
    lease_request = LeaseRequestFactory(project=partner.project)

    printed = run("close_request", lease_request.public_id, "--reject", "--note", "No pool yet.")

    assert printed["status"] == "rejected"
    note = RequestNote.objects.get()
    assert note.author is None and note.author_name == "system"
    lease_request.refresh_from_db()
    assert lease_request.closed_by is None
