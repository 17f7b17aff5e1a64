import csv
import io

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from billing.models import LedgerEntry, LedgerTransaction
from billing.selectors import wallet_balance_cents
from billing.services import wallet_fund
from leasing.roles import FINANCE, OPS
from tests.factories import OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

MOVE_MONEY = reverse("admin:billing_wallet_move_money")


@pytest.fixture
def finance(client):
    user = UserFactory(username="fin")
    user.groups.add(Group.objects.get(name=FINANCE))
    client.force_login(user)
    return user


def record(client, organization, kind, amount, memo="", reference=""):
    return client.post(
        MOVE_MONEY,
        {
            "organization": organization.pk,
            "kind": kind,
            "amount": amount,
            "memo": memo,
            "reference": reference,
        },
    )


def test_finance_records_a_top_up_for_an_org_that_had_no_wallet(client, finance):
    org = OrganizationFactory()

    response = record(client, org, "top_up", "1500.00", reference="WIRE-2026-11-24")

    assert response.status_code == 302
    assert wallet_balance_cents(organization_id=org.pk) == 150_000
    txn = LedgerTransaction.objects.get()
    assert (txn.kind, txn.actor, txn.reference) == ("funding", finance, "WIRE-2026-11-24")
    page = client.get(response["Location"], follow=True).content.decode()
    assert "balance now $1,500.00" in page


def test_finance_adjusts_down_with_a_reason(client, finance):
    org = OrganizationFactory()
    wallet_fund(organization=org, amount_cents=50_000)

    record(client, org, "adjustment", "-120.50", memo="Duplicate top-up on 11/20")

    assert wallet_balance_cents(organization_id=org.pk) == 50_000 - 12_050
    assert LedgerTransaction.objects.get(kind="adjustment").memo == "Duplicate top-up on 11/20"


def test_an_adjustment_below_zero_is_refused_and_nothing_moves(client, finance):
    org = OrganizationFactory()
    wallet_fund(organization=org, amount_cents=10_000)

    response = record(client, org, "adjustment", "-100.01", memo="too much")

    assert response.status_code == 200
    assert "The wallet holds 100.00 USD" in response.content.decode()
    assert wallet_balance_cents(organization_id=org.pk) == 10_000


@pytest.mark.parametrize(
    ("kind", "amount", "memo", "field"),
    [
        ("adjustment", "25.00", "", "memo"),
        ("top_up", "-5.00", "", "amount"),
        ("top_up", "0", "", "amount"),
        ("top_up", "1.234", "", "amount"),
    ],
)
def test_bad_movements_are_explained_on_the_form(client, finance, kind, amount, memo, field):
    org = OrganizationFactory()

    response = record(client, org, kind, amount, memo=memo)

    assert response.status_code == 200
    assert field in response.context["form"].errors
    assert not LedgerTransaction.objects.exists()


def test_ops_cannot_move_money(client):
    user = UserFactory(username="ops-person")
    user.groups.add(Group.objects.get(name=OPS))
    client.force_login(user)

    response = record(client, OrganizationFactory(), "top_up", "100.00")

    assert response.status_code == 403
    assert not LedgerTransaction.objects.exists()


def test_finance_exports_the_ledger_as_csv(client, finance):
    org = OrganizationFactory(name="Export Co")
    wallet_fund(organization=org, amount_cents=30_000, memo="Opening")
    entries = list(LedgerEntry.objects.order_by("pk"))

    response = client.post(
        reverse("admin:billing_ledgerentry_changelist"),
        {"action": "export_csv", "_selected_action": [e.pk for e in entries]},
    )

    assert response["Content-Type"] == "text/csv"
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["account"], r["amount_cents"], r["memo"]) for r in rows] == [
        ("wallet", "30000", "Opening"),
        ("funding", "-30000", "Opening"),
    ]
    assert rows[0]["organization"] == "Export Co"
    assert rows[0]["time_utc"].endswith("Z")


def test_ledger_csv_never_exports_a_formula(client, finance):
    org = OrganizationFactory(name="=cmd|' /C calc'!A0")
    wallet_fund(
        organization=org,
        amount_cents=30_000,
        memo="@SUM(1+1)",
        reference='=HYPERLINK("http://evil")',
    )
    entries = list(LedgerEntry.objects.order_by("pk"))

    response = client.post(
        reverse("admin:billing_ledgerentry_changelist"),
        {"action": "export_csv", "_selected_action": [e.pk for e in entries]},
    )

    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["memo"] == "'@SUM(1+1)"
    assert rows[0]["reference"] == '\'=HYPERLINK("http://evil")'
    assert rows[0]["organization"].startswith("'=")
    assert rows[1]["amount_cents"] == "-30000"  # numbers stay numbers
