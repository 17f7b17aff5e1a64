import io
import json
import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from layers_ops.api.models import IdempotencyKey
from leasing.models import LeaseRequest
from tests.conftest import lease_body, make_partner, post_raw, request_url

pytestmark = pytest.mark.django_db


def post(partner, body, key, **extra):
    return partner.client.post(
        request_url(partner.project.pk), body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra
    )


def test_same_key_and_body_replays_the_first_answer(partner):
    key = str(uuid.uuid4())
    first = post(partner, lease_body(partner.project.pk), key)

    again = post(partner, lease_body(partner.project.pk), key)

    assert again.status_code == first.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again["Location"] == first["Location"]
    assert "Idempotent-Replayed" not in first
    assert LeaseRequest.objects.count() == 1


def test_key_order_and_whitespace_do_not_change_the_body(partner):
    key = str(uuid.uuid4())
    body = lease_body(partner.project.pk)
    post(partner, body, key)
    reordered = (
        '{ "target": "Short-form brew tutorials; paid UGC-style creative for ads.",\n'
        ' "niche": {"geo": ["US","CA","GB"], "language": "en",'
        ' "audience": "home baristas 25\\u201340", "vertical": "coffee"},'
        f' "count": 5, "projectId": "{partner.project.pk}"}}'
    )

    again = post_raw(partner, reordered, key)

    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert LeaseRequest.objects.count() == 1


def test_same_key_with_a_different_body_is_conflict(partner):
    key = str(uuid.uuid4())
    post(partner, lease_body(partner.project.pk), key)

    response = post(partner, lease_body(partner.project.pk, count=4), key)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"
    assert LeaseRequest.objects.count() == 1


def test_keys_are_scoped_to_the_organization(partner, other_partner):
    key = str(uuid.uuid4())
    post(partner, lease_body(partner.project.pk), key)

    response = post(other_partner, lease_body(other_partner.project.pk), key)

    assert response.status_code == 202
    assert "Idempotent-Replayed" not in response
    assert LeaseRequest.objects.count() == 2


def test_answers_that_queued_nothing_are_not_stored(db):
    poor = make_partner(wallet_cents=0)
    key = str(uuid.uuid4())
    assert post(poor, lease_body(poor.project.pk), key).status_code == 402
    assert post(poor, lease_body(poor.project.pk, count=0), key).status_code == 422

    from billing.services.movements import wallet_fund

    wallet_fund(organization=poor.organization, amount_cents=15_000)
    retried = post(poor, lease_body(poor.project.pk), key)

    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried
    assert LeaseRequest.objects.count() == 1


@pytest.mark.parametrize("bad", ["not-a-uuid", "1234", ""])
def test_key_must_be_a_uuid(partner, bad):
    response = post(partner, lease_body(partner.project.pk), bad)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "Idempotency-Key"
    assert not LeaseRequest.objects.exists()


def test_a_key_is_forgotten_after_24_hours(partner):
    key = str(uuid.uuid4())
    first = post(partner, lease_body(partner.project.pk), key)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    later = post(partner, lease_body(partner.project.pk), key)

    assert later.status_code == 202
    assert "Idempotent-Replayed" not in later
    assert later.json()["requestId"] != first.json()["requestId"]
    assert LeaseRequest.objects.count() == 2


def test_a_key_still_replays_just_before_24_hours(partner):
    key = str(uuid.uuid4())
    post(partner, lease_body(partner.project.pk), key)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=23, minutes=59))

    assert post(partner, lease_body(partner.project.pk), key)["Idempotent-Replayed"] == "true"


def test_purge_command_deletes_only_expired_keys(partner):
    old, fresh = str(uuid.uuid4()), str(uuid.uuid4())
    post(partner, lease_body(partner.project.pk), old)
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(days=2))
    post(partner, lease_body(partner.project.pk), fresh)

    call_command("purge_idempotency_keys", stdout=io.StringIO())

    assert [str(k) for k in IdempotencyKey.objects.values_list("key", flat=True)] == [fresh]


def test_replay_does_not_spend_write_budget(db):
    standard = make_partner(tier="standard")
    key = str(uuid.uuid4())
    first = post(standard, lease_body(standard.project.pk), key)

    replays = [post(standard, lease_body(standard.project.pk), key) for _ in range(3)]

    remaining = {r["X-RateLimit-Remaining"] for r in replays}
    assert remaining == {first["X-RateLimit-Remaining"]} == {"59"}


def test_any_string_can_be_fingerprinted(partner):
    raw = json.dumps(lease_body(partner.project.pk, niche={"vertical": "c\ud800"}))

    response = post_raw(partner, raw, str(uuid.uuid4()))

    assert "\\ud800" in raw  # a lone surrogate, escaped as JSON allows
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "niche.vertical"


def test_a_replay_is_byte_for_byte_the_first_answer(partner):
    key = str(uuid.uuid4())
    first = post(partner, lease_body(partner.project.pk), key)

    again = post(partner, lease_body(partner.project.pk), key)

    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"] == "application/json"
    assert list(first.json()) == ["requestId", "status", "submittedAt"]


def test_an_expired_key_does_not_replay_an_answer_to_a_refused_request(db):
    poor = make_partner(wallet_cents=15_000)
    key = str(uuid.uuid4())
    assert post(poor, lease_body(poor.project.pk, count=1), key).status_code == 202
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    from billing.services.movements import wallet_adjust

    wallet_adjust(organization=poor.organization, amount_cents=-15_000, actor=None, memo="drain")

    response = post(poor, lease_body(poor.project.pk, count=1), key)

    assert response.status_code == 402
    assert "Idempotent-Replayed" not in response
