import io
import json
import re
import shlex

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from billing.selectors import wallet_balance_cents
from layers_ops.partners.models import Project
from leasing.models import Lease, LeaseRequest, SocialAccount
from tests.conftest import bearer_client

pytestmark = pytest.mark.django_db


def load_demo() -> str:
    out = io.StringIO()
    call_command("load_demo", "--force", stdout=out)  # tests run with DEBUG off
    return out.getvalue()


def printed_post(output: str):
    """The printed curl, parsed: URL, headers and body, as a shell would pass them."""
    command = output[output.index("curl -i -X POST") :].split("\n\n")[0].replace("\\\n", " ")
    words = shlex.split(command)
    url = words[words.index("POST") + 1]
    headers = dict(words[i + 1].split(": ", 1) for i, word in enumerate(words) if word == "-H")
    body = json.loads(words[words.index("-d") + 1])
    return url, headers, body


def test_printed_curl_queues_a_request():
    url, headers, body = printed_post(load_demo())

    client = bearer_client(headers["Authorization"].removeprefix("Bearer "))
    response = client.post(
        url.removeprefix("http://127.0.0.1:8000"),
        body,
        format="json",
        HTTP_IDEMPOTENCY_KEY=headers["Idempotency-Key"],
    )

    assert response.status_code == 202
    assert LeaseRequest.objects.filter(public_id=response.json()["requestId"]).exists()


def test_demo_partner_is_funded_and_pools_are_stocked():
    load_demo()
    _, _, body = printed_post(load_demo())

    org_id = Project.objects.get(pk=body["projectId"]).organization_id
    # Funded once, not per run; one demo account was assigned (and charged) once.
    assert wallet_balance_cents(organization_id=org_id) == 300_000 - 15_000
    assert SocialAccount.objects.filter(state="ready").count() == 36 - 3


def test_the_queue_is_alive_on_first_login_and_reruns_add_nothing():
    load_demo()
    load_demo()

    statuses = sorted(LeaseRequest.objects.values_list("status", flat=True))
    assert statuses.count("requested") == 5
    assert {"assigned", "rejected"} <= set(statuses)
    assert LeaseRequest.objects.filter(status="requested", sla_due_at__lt=timezone.now()).exists()
    assert Lease.objects.count() == 3  # one on the partial request, two on the assigned one
    # Two open requests are claimed (working a request claims it, so closed ones are too).
    assert LeaseRequest.objects.filter(status="requested", claimed_by__isnull=False).count() == 2


def test_rerun_issues_a_new_key_and_revokes_the_old_one():
    _, first_headers, _ = printed_post(load_demo())
    _, second_headers, _ = printed_post(load_demo())

    old = bearer_client(first_headers["Authorization"].removeprefix("Bearer "))
    new = bearer_client(second_headers["Authorization"].removeprefix("Bearer "))
    assert old.get("/v1/whoami").status_code == 401
    assert new.get("/v1/whoami").status_code == 200


def test_staff_can_log_in_with_the_printed_passwords():
    output = load_demo()

    for username in ("admin", "ops", "finance"):
        password = re.search(rf"^\s+{username}\s+password (\S+)$", output, re.M).group(1)
        user = authenticate(sign_in_request(), username=username, password=password)
        assert user is not None and user.is_staff
    assert authenticate(sign_in_request(), username="ops", password="wrong") is None


def sign_in_request():
    """What the admin's sign-in form hands authenticate(): the lockout needs the request."""
    return RequestFactory().post("/admin/login/", REMOTE_ADDR="127.0.0.1")


def test_demo_data_is_refused_in_production_unless_forced():
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="for development"):
        call_command("load_demo", stdout=io.StringIO())
    assert not LeaseRequest.objects.exists()
