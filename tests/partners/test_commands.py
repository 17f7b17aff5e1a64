import io
import json

import pytest
from django.core.management import CommandError, call_command

from billing.models import LedgerTransaction
from billing.selectors import wallet_balance_cents
from layers_ops.partners.models import ApiKey
from tests.conftest import bearer_client, lease_body, request_url

pytestmark = pytest.mark.django_db


def run(*args) -> dict:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


def test_create_partner_makes_a_working_funded_partner():
    created = run("create_partner", "--name", "Acme", "--wallet-cents", "45000")

    assert created["organizationId"].startswith("org_")
    assert created["projectId"].startswith("prj_")
    assert wallet_balance_cents(organization_id=created["organizationId"]) == 45_000
    assert LedgerTransaction.objects.get().kind == "funding"
    client = bearer_client(created["apiKey"])
    response = client.post(
        request_url(created["projectId"]), lease_body(created["projectId"]), format="json"
    )
    assert response.status_code == 202


def test_create_partner_defaults():
    created = run("create_partner", "--name", "Defaults Inc")

    key = ApiKey.objects.get(organization_id=created["organizationId"])
    assert key.scopes == ["leased:read", "leased:write"]
    assert key.rate_limit_tier == "standard"
    assert wallet_balance_cents(organization_id=created["organizationId"]) == 0
    assert not LedgerTransaction.objects.exists()


def test_create_partner_with_scopes_and_tier():
    created = run(
        "create_partner",
        "--name",
        "Big",
        "--scopes",
        "leased:read",
        "billing:read",
        "--tier",
        "partner",
    )

    key = ApiKey.objects.get(organization_id=created["organizationId"])
    assert key.scopes == ["leased:read", "billing:read"]
    assert key.rate_limit_tier == "partner"


def test_create_partner_refuses_a_taken_name():
    run("create_partner", "--name", "Twice")

    with pytest.raises(CommandError, match="exists"):
        run("create_partner", "--name", "Twice")


def test_create_api_key_issues_another_key_for_the_org():
    created = run("create_partner", "--name", "Keys Co")

    issued = run(
        "create_api_key", "--org", created["organizationId"], "--scopes", "*", "--tier", "pilot"
    )

    assert issued["apiKey"].startswith("lp_live_")
    whoami = bearer_client(issued["apiKey"]).get("/v1/whoami").json()
    assert whoami["organizationId"] == created["organizationId"]
    assert whoami["scopes"] == ["*"] and whoami["rateLimitTier"] == "pilot"


def test_create_api_key_for_an_unknown_org_fails():
    with pytest.raises(CommandError, match="No organization"):
        run("create_api_key", "--org", "org_nope")
