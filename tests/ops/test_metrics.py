"""/metrics: refused without the token, off without one, and its gauges follow the queue."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from leasing.services.allocation import allocation_assign
from tests.conftest import lease_body, make_partner, request_url
from tests.factories import (
    LeaseFactory,
    LeaseRequestFactory,
    PoolFactory,
    SocialAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TOKEN = "scrape-" + "t" * 40


@pytest.fixture(autouse=True)
def metrics_token(settings):
    settings.METRICS_TOKEN = TOKEN


def scrape() -> dict:
    """{(name, labels as sorted tuple): value} of every sample /metrics shows."""
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_is_404_when_no_token_is_set(settings):
    settings.METRICS_TOKEN = ""
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_metrics_refuses_a_scrape_without_the_token(header):
    headers = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().get("/metrics", **headers)
    assert response.status_code == 401
    assert b"layers_" not in response.content


def test_queue_gauges_move_when_a_request_is_queued_and_allocated(partner):
    pool = PoolFactory(tags=["coffee"], language="en", geos=["US"])
    accounts = [SocialAccountFactory(pool=pool, follower_geos=["US"]) for _ in range(7)]
    before = scrape()
    assert value(before, "layers_supply_ready_accounts", vertical="coffee") == 7

    queued = partner.client.post(
        request_url(partner.project.pk), lease_body(partner.project.pk, count=5), format="json"
    )
    assert queued.status_code == 202
    waiting = scrape()
    assert (
        value(waiting, "layers_lease_requests_open")
        == value(before, "layers_lease_requests_open") + 1
    )
    assert value(waiting, "layers_demand_accounts_needed", vertical="coffee") == 5
    assert value(waiting, "layers_supply_shortfall_accounts", vertical="coffee") == 0

    from leasing.models import LeaseRequest

    lease_request = LeaseRequest.objects.get(public_id=queued.json()["requestId"])
    allocation_assign(lease_request=lease_request, accounts=accounts[:5], actor=UserFactory())
    done = scrape()
    assert value(done, "layers_lease_requests_open") == value(before, "layers_lease_requests_open")
    assert value(done, "layers_demand_accounts_needed", vertical="coffee") == 0
    assert value(done, "layers_supply_ready_accounts", vertical="coffee") == 2
    assert value(done, "layers_leases_active") == value(before, "layers_leases_active") + 5


def test_request_latency_is_counted_by_route_and_status(partner):
    partner.client.get("/v1/whoami")
    samples = scrape()
    count = value(
        samples,
        "layers_http_request_duration_seconds_count",
        route="/v1/whoami",
        method="GET",
        status="200",
    )
    assert count >= 1
    assert value(samples, "layers_http_request_db_statements_total", route="/v1/whoami") >= 1


def test_overdue_and_past_due_and_low_runway_are_counted():
    broke = make_partner(wallet_cents=0)
    late = timezone.now() - timedelta(days=10)
    LeaseRequestFactory(project=broke.project, submitted_at=late)
    lease_request = LeaseRequestFactory(project=broke.project, status="assigned", count=2)
    # Renews in about three days; the empty wallet cannot pay it.
    LeaseFactory(lease_request=lease_request, assigned_at=timezone.now() - timedelta(days=27))
    LeaseFactory(
        lease_request=lease_request,
        assigned_at=timezone.now() - timedelta(days=32),
        periods_paid=1,
        billing_status="past_due",
        past_due_since=timezone.now() - timedelta(days=1),
    )
    samples = scrape()
    assert value(samples, "layers_lease_requests_overdue") >= 1
    assert value(samples, "layers_leases_past_due") >= 1
    assert value(samples, "layers_wallets_low_runway") >= 1


def test_the_gauges_cost_a_fixed_number_of_queries(partner, django_assert_max_num_queries):
    for _ in range(3):
        LeaseRequestFactory(project=partner.project, vertical=f"v{_}")
        LeaseFactory()
    # queue panel 5, leases 1, last renewal run 1, wallets 2, last renewal charge 1, jobs 2,
    # webhooks 2
    with django_assert_max_num_queries(14):
        scrape()


def test_worker_processes_counts_are_added_up(tmp_path):
    """Multiprocess mode: what two processes counted, a third one's scrape shows."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = (
        "from layers_ops.ops import metrics;"
        "metrics.REQUEST_SECONDS.labels('/v1/whoami', 'GET', '200').observe(0.01)"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", count], env=env, check=True)
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from layers_ops.ops import metrics; print(metrics.exposition().decode())",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    labels = 'method="GET",route="/v1/whoami",status="200"'
    assert f"layers_http_request_duration_seconds_count{{{labels}}} 2.0" in shown


def test_webhook_and_job_gauges_move_when_a_delivery_waits_and_fails(partner):
    from layers_ops.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
    from layers_ops.webhooks.services import Occurrence, events_emit, secret_new

    WebhookEndpoint.objects.create(
        organization=partner.organization,
        url="https://hooks.example.com/layers",
        events=["lease.past_due"],
        secret=secret_new(),
    )
    before = scrape()
    assert value(before, "layers_webhook_deliveries_pending") == 0
    assert value(before, "layers_jobs_waiting", queue="webhooks") == 0

    events_emit(
        [Occurrence(organization_id=partner.organization.pk, type="lease.past_due", data={})]
    )
    queued = scrape()
    assert value(queued, "layers_webhook_deliveries_pending") == 1
    assert value(queued, "layers_webhook_deliveries_due") == 1
    assert value(queued, "layers_jobs_waiting", queue="webhooks") == 1

    WebhookDelivery.objects.update(status=DeliveryStatus.FAILED, next_attempt_at=None)
    failed = scrape()
    assert value(failed, "layers_webhook_deliveries_pending") == 0
    assert value(failed, "layers_webhook_deliveries_failed_24h") == 1
