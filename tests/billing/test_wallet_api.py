"""The partner's wallet over the API: figures, and the ledger of its own entries only."""

import io
import json
import re
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.models import LedgerEntry, LedgerTransaction, TransactionKind
from billing.selectors import wallet_balance_cents
from billing.services.charges import lease_charge
from billing.services.movements import wallet_adjust, wallet_fund
from billing.services.reversals import transaction_reverse
from layers_ops.partners.models import Scope
from tests.factories import LeaseFactory, LeaseRequestFactory, UserFactory

pytestmark = pytest.mark.django_db

PRICE = 15_000


def entries(partner, **params):
    response = partner.client.get("/v1/wallet/ledger", params)
    assert response.status_code == 200, response.json()
    return response.json()


def test_wallet_shows_balance_burn_cover_and_runway(partner):
    request = LeaseRequestFactory(project=partner.project)
    LeaseFactory(lease_request=request)
    LeaseFactory(lease_request=request, monthly_price_cents=10_000)
    LeaseFactory(lease_request=request, disconnected=True)

    body = partner.client.get("/v1/wallet").json()

    assert body == {
        "organizationId": partner.organization.pk,
        "balanceCents": 300_000,
        "currency": "USD",
        "activeLeases": 2,
        "monthlyBurnCents": 25_000,
        "accountsCovered": 20,
        "runwayDays": body["runwayDays"],
    }
    # $3,000 pays 12 renewals of both leases (12 x $250), the 13th month's first is short.
    assert 365 <= body["runwayDays"] <= 366 + 31


def test_runway_ends_at_the_first_renewal_the_balance_cannot_pay(db):
    from tests.conftest import make_partner

    partner = make_partner(wallet_cents=100)
    LeaseFactory(
        lease_request=LeaseRequestFactory(project=partner.project),
        assigned_at=timezone.now() - timedelta(days=20, hours=1),
    )

    body = partner.client.get("/v1/wallet").json()

    assert body["accountsCovered"] == 0
    assert body["runwayDays"] in (7, 8, 9, 10)  # the renewal ~10 days from now


def test_a_wallet_with_nothing_leased_has_no_runway(partner):
    body = partner.client.get("/v1/wallet").json()

    assert (body["activeLeases"], body["monthlyBurnCents"], body["runwayDays"]) == (0, 0, None)


@pytest.mark.parametrize(
    "path", ["/v1/wallet", "/v1/wallet/ledger", "/v1/wallet/statements/2026-10"]
)
def test_head_on_the_wallet_needs_billing_read_like_get(partner, path):
    assert partner.client_with(Scope.LEASED_READ).head(path).status_code == 403
    assert partner.client_with(Scope.BILLING_READ).head(path).status_code == 200


@pytest.mark.parametrize("path", ["/v1/wallet", "/v1/wallet/ledger"])
def test_the_wallet_needs_billing_read(partner, path):
    assert partner.client_with(Scope.LEASED_WRITE).get(path).status_code == 403
    assert partner.client_with(Scope.BILLING_READ).get(path).status_code == 200
    response = partner.client_with(Scope.LEASED_READ).get(path)
    assert response.json()["error"]["code"] == "FORBIDDEN_SCOPE"


def test_ledger_lists_the_callers_entries_newest_first(partner, other_partner):
    finance = UserFactory(username="fin-api")
    wallet_fund(
        organization=partner.organization,
        amount_cents=50_000,
        memo="Wire 2026-11",
        description="Payment received, thank you",
        reference="INV-7",
    )
    charge = lease_charge(
        organization_id=partner.organization.pk, lease_id=41, amount_cents=PRICE, reference="lreq_x"
    )
    transaction_reverse(original=charge, actor=finance, memo="Account banned on day 2")
    wallet_fund(organization=other_partner.organization, amount_cents=70_000, memo="theirs")

    items = entries(partner)["items"]

    assert [(i["kind"], i["amountCents"], i["balanceAfterCents"]) for i in items] == [
        ("reversal", PRICE, 350_000),
        ("charge", -PRICE, 335_000),
        ("funding", 50_000, 350_000),
        ("funding", 300_000, 300_000),  # the opening balance
    ]
    top_up = items[2]
    # The partner reads the description, never finance's internal reason.
    assert top_up["memo"] == "Payment received, thank you" and top_up["reference"] == "INV-7"
    assert "Account banned" not in items[0]["memo"] and items[0]["reference"] == charge.pk
    assert items[1]["transactionId"] == charge.pk
    # A random ULID, not the row number that would count every organization's entries.
    assert all(re.fullmatch(r"le_[0-9A-HJKMNP-TV-Z]{26}", i["entryId"]) for i in items)
    assert LedgerEntry.objects.get(public_id=items[1]["entryId"]).transaction_id == charge.pk
    assert "theirs" not in {i["memo"] for i in items}
    assert set(items[0]) == {
        "entryId",
        "transactionId",
        "kind",
        "amountCents",
        "balanceAfterCents",
        "memo",
        "reference",
        "createdAt",
    }


def test_ledger_pages_with_a_cursor_and_stays_stable_under_inserts(partner):
    for n in range(4):
        wallet_fund(organization=partner.organization, amount_cents=100 + n)

    first = entries(partner, limit=2)
    wallet_fund(organization=partner.organization, amount_cents=999)  # arrives meanwhile
    second = entries(partner, limit=2, cursor=first["nextCursor"])
    third = entries(partner, limit=2, cursor=second["nextCursor"])

    amounts = [i["amountCents"] for page in (first, second, third) for i in page["items"]]
    assert amounts == [103, 102, 101, 100, 300_000]
    assert third["nextCursor"] is None


def test_ledger_filters_by_kind_and_time(partner):
    wallet_adjust(
        organization=partner.organization, amount_cents=-500, actor=UserFactory(), memo="fee"
    )
    now = timezone.now()

    assert [i["kind"] for i in entries(partner, kind="adjustment")["items"]] == ["adjustment"]
    assert entries(partner, since=(now + timedelta(seconds=1)).isoformat())["items"] == []
    assert len(entries(partner, until=(now + timedelta(days=1)).date().isoformat())["items"]) == 2
    assert entries(partner, since="2026-01-01", until="2026-01-01")["items"] == []
    assert len(entries(partner, since="2000-01-01T00:00:00Z")["items"]) == 2
    assert len(entries(partner, since="2000-01-01T00:00:00-19:54")["items"]) == 2  # odd offset
    assert entries(partner, since="5126-11-23T21:15:39.0-19:54")["items"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"kind": "bonus"}, "kind"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "2026-02-30T00:00:00Z"}, "since"),
        ({"limit": "0"}, "limit"),
        ({"cursor": "forged"}, "cursor"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "since"),  # before year 1 in UTC
    ],
)
def test_bad_ledger_filters_are_422_naming_the_field(partner, params, field):
    response = partner.client.get("/v1/wallet/ledger", params)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION"
    assert [d["field"] for d in error["details"]] == [field]


def test_top_up_command_funds_the_wallet_and_prints_the_balance(partner):
    out = io.StringIO()

    call_command(
        "top_up",
        partner.organization.pk,
        "--cents",
        "45000",
        "--memo",
        "Wire received 2026-11-24",
        "--reference",
        "WIRE-88",
        stdout=out,
    )

    assert json.loads(out.getvalue()) == {
        "organizationId": partner.organization.pk,
        "balanceCents": 345_000,
    }
    txn = LedgerTransaction.objects.filter(kind=TransactionKind.FUNDING).latest("created_at")
    assert (txn.memo, txn.reference, txn.actor_label) == (
        "Wire received 2026-11-24",
        "WIRE-88",
        "system",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["org_nope", "--cents", "100", "--memo", "x"], "No organization"),
        (["{org}", "--cents", "0", "--memo", "x"], "positive"),
        (["{org}", "--cents", "-5", "--memo", "x"], "positive"),
        (["{org}", "--cents", "1.5", "--memo", "x"], "positive"),
        (["{org}", "--memo", "x"], "positive"),
        (["{org}", "--cents", "100"], "--memo"),
        (["{org}", "--cents", "100", "--memo", "  "], "--memo"),
    ],
)
def test_top_up_refuses_with_one_line_and_moves_nothing(partner, args, message):
    args = [a.format(org=partner.organization.pk) for a in args]

    with pytest.raises(CommandError, match=message) as refused:
        call_command("top_up", *args, stdout=io.StringIO())

    assert "\n" not in str(refused.value)
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000


def test_the_wallet_endpoints_are_documented_with_their_errors(client):
    paths = client.get("/v1/openapi.json").json()["paths"]

    assert set(paths["/v1/wallet"]["get"]["responses"]) >= {"200", "401", "403", "429"}
    ledger = paths["/v1/wallet/ledger"]["get"]
    assert set(ledger["responses"]) >= {"200", "401", "403", "422", "429"}
    assert {p["name"] for p in ledger["parameters"]} >= {
        "kind",
        "since",
        "until",
        "limit",
        "cursor",
    }
