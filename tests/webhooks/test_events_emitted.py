"""Which changes emit which webhook events, each carrying what the matching GET shows,
and nothing for a change that did not happen."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from billing.services.movements import wallet_fund
from layers_ops.webhooks.models import WebhookEndpoint, WebhookEvent
from layers_ops.webhooks.services import secret_new
from leasing.services.allocation import WalletShort, allocation_assign
from leasing.services.renewals import leases_renew
from leasing.services.requests import request_close
from leasing.tasks import leases_renew_scheduled
from tests.conftest import make_partner
from tests.factories import (
    LeaseFactory,
    LeaseRequestFactory,
    PoolFactory,
    SocialAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PRICE = settings.LEASE_PRICE_CENTS
ALL_EVENTS = [
    "lease_request.assigned",
    "lease_request.partial",
    "lease_request.rejected",
    "lease_request.cancelled",
    "lease.past_due",
    "lease.disconnected",
    "wallet.low_balance",
]


def subscribe(partner, events=ALL_EVENTS):
    return WebhookEndpoint.objects.create(
        organization=partner.organization,
        url="https://hooks.example.com/layers",
        events=list(events),
        secret=secret_new(),
    )


def sent(type=None) -> list[dict]:
    events = WebhookEvent.objects.order_by("created_at", "id")
    if type:
        events = events.filter(type=type)
    return [json.loads(e.body) for e in events]


def ready_accounts(n):
    pool = PoolFactory(tags=["coffee"])
    return [SocialAccountFactory(pool=pool) for _ in range(n)]


@pytest.fixture
def ops():
    return UserFactory(username="ops-events")


def test_a_request_filled_emits_assigned_with_the_request_as_get_shows_it(ops):
    partner = make_partner(wallet_cents=100 * PRICE)
    subscribe(partner)
    lease_request = LeaseRequestFactory(project=partner.project, count=2, vertical="coffee")
    accounts = ready_accounts(2)
    allocation_assign(lease_request=lease_request, accounts=accounts[:1], actor=ops)
    assert sent() == []  # 1 of 2: still being worked
    allocation_assign(lease_request=lease_request, accounts=accounts[1:], actor=ops)

    (event,) = sent()
    assert event["type"] == "lease_request.assigned"
    assert event["id"].startswith("evt_")
    shown = partner.client.get(f"/v1/leased-accounts/requests/{lease_request.public_id}").json()
    assert event["data"] == shown
    assert event["data"]["status"] == "assigned"
    assert sorted(event["data"]["assignedSocialAccountIds"]) == sorted(a.pk for a in accounts)


def test_an_allocation_the_wallet_cannot_pay_emits_nothing(ops):
    partner = make_partner(wallet_cents=PRICE)
    subscribe(partner)
    lease_request = LeaseRequestFactory(project=partner.project, count=2, vertical="coffee")
    with pytest.raises(WalletShort):
        allocation_assign(lease_request=lease_request, accounts=ready_accounts(2), actor=ops)
    assert sent() == []


def test_closing_as_partial_or_rejected_emits_it_with_the_partner_note(ops):
    partner = make_partner(wallet_cents=100 * PRICE)
    subscribe(partner)
    partial = LeaseRequestFactory(project=partner.project, count=3, vertical="coffee")
    allocation_assign(lease_request=partial, accounts=ready_accounts(1), actor=ops)
    request_close(
        lease_request=partial,
        outcome="partial",
        note="Only one warmed account fits.",
        partner_visible=True,
        actor=ops,
    )
    rejected = LeaseRequestFactory(project=partner.project, count=3, vertical="yachts")
    request_close(
        lease_request=rejected,
        outcome="rejected",
        note="No pool for this niche (internal).",
        partner_visible=False,
        actor=ops,
    )
    first, second = sent()
    assert (first["type"], first["data"]["status"]) == ("lease_request.partial", "partial")
    assert first["data"]["note"] == "Only one warmed account fits."
    assert (second["type"], second["data"]["status"]) == ("lease_request.rejected", "rejected")
    assert second["data"]["note"] is None  # an internal note never reaches the partner
    assert "internal" not in json.dumps(second)


def test_a_cancel_emits_cancelled(partner):
    subscribe(partner)
    lease_request = LeaseRequestFactory(project=partner.project, count=2)
    response = partner.client.post(
        f"/v1/projects/{partner.project.pk}/leased-accounts/requests/"
        f"{lease_request.public_id}/cancel"
    )
    assert response.status_code == 200
    (event,) = sent()
    assert event["type"] == "lease_request.cancelled"
    assert event["data"] == response.json()


def test_a_partner_release_emits_disconnected_with_the_leased_account(partner):
    subscribe(partner)
    lease = LeaseFactory(lease_request=LeaseRequestFactory(project=partner.project))
    response = partner.client.delete(f"/v1/leased-accounts/{lease.social_account_id}")
    assert response.status_code == 200
    (event,) = sent()
    assert event["type"] == "lease.disconnected"
    listed = partner.client.get("/v1/leased-accounts", {"status": "disconnected"}).json()
    assert event["data"] == listed["items"][0]
    assert event["data"]["disconnectedReason"] == "released_by_partner"
    # Releasing again changes nothing and says nothing more.
    partner.client.delete(f"/v1/leased-accounts/{lease.social_account_id}")
    assert len(sent()) == 1


def test_an_unpaid_renewal_emits_past_due_once_then_disconnected():
    partner = make_partner(wallet_cents=0)
    subscribe(partner, events=["lease.past_due", "lease.disconnected"])
    assigned = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
    lease = LeaseFactory(
        lease_request=LeaseRequestFactory(project=partner.project), assigned_at=assigned
    )
    due = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    leases_renew(at=due)
    leases_renew(at=due + timedelta(days=1))  # still past due: said once
    (past_due,) = sent("lease.past_due")
    assert past_due["data"]["socialAccountId"] == lease.social_account_id
    assert past_due["data"]["billingStatus"] == "past_due"
    assert sent("lease.disconnected") == []

    leases_renew(at=due + timedelta(days=settings.RENEWAL_GRACE_DAYS, hours=1))
    (disconnected,) = sent("lease.disconnected")
    assert disconnected["data"]["status"] == "disconnected"
    assert disconnected["data"]["disconnectedReason"] == "unpaid"


def test_a_wallet_falling_under_a_week_of_runway_says_so_once_until_topped_up(ops):
    partner = make_partner(wallet_cents=PRICE)  # pays one renewal
    subscribe(partner, events=["wallet.low_balance"])
    for days_ago in (20, 27):  # renewals due in about 10 and 3 days
        LeaseFactory(
            lease_request=LeaseRequestFactory(project=partner.project),
            assigned_at=timezone.now() - timedelta(days=days_ago),
        )
    leases_renew_scheduled(timestamp=0)
    assert sent() == []  # the balance pays the first renewal: 10 days of runway

    wallet_fund(organization=partner.organization, amount_cents=1)  # money moves: checked
    assert sent() == []
    LeaseFactory(  # a third lease, due tomorrow, that nothing pays
        lease_request=LeaseRequestFactory(project=partner.project),
        assigned_at=timezone.now() - timedelta(days=29),
    )
    leases_renew_scheduled(timestamp=0)
    (event,) = sent()
    assert event["type"] == "wallet.low_balance"
    wallet = partner.client.get("/v1/wallet").json()
    assert event["data"] == wallet
    assert wallet["runwayDays"] < settings.WALLET_LOW_RUNWAY_DAYS

    leases_renew_scheduled(timestamp=0)
    assert len(sent()) == 1  # still low: said once
    wallet_fund(organization=partner.organization, amount_cents=10 * PRICE)
    leases_renew_scheduled(timestamp=0)
    assert len(sent()) == 1  # back over the line: re-armed, nothing sent
