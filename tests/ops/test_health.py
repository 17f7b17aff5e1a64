"""/healthz says the process answers; /readyz says it can serve, and 503 when it cannot."""

import pytest
from django.test import Client

from layers_ops.ops import health
from tests.ops.conftest import closed_port

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_touching_the_database(django_assert_num_queries):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {}}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ready_with_the_database_migrated_and_redis_answering(settings):
    response = Client().get("/readyz")
    assert response.status_code == 200
    checks = response.json()["checks"]
    assert checks["database"] == checks["migrations"] == "ok"
    if settings.REDIS_URL:
        assert checks["redis"] == "ok"


def test_readyz_runs_two_queries(django_assert_num_queries):
    Client().get("/readyz")  # the migrations on disk are read once per process
    with django_assert_num_queries(2):  # applied migrations, the job queue
        Client().get("/readyz")


def test_probes_answer_head_and_refuse_post():
    assert Client().head("/readyz").status_code == 200
    assert Client().post("/healthz").status_code == 405


def test_readyz_is_503_while_a_migration_is_not_applied(monkeypatch):
    on_disk = health._migrations_on_disk() | {("leasing", "9999_not_yet_applied")}
    monkeypatch.setattr(health, "_migrations_on_disk", lambda: on_disk)
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "migrations": "failing", "jobs": "ok"}
        | ({"redis": "ok"} if health.settings.REDIS_URL else {}),
    }
    assert "9999" not in response.content.decode()


def test_readyz_is_503_when_redis_does_not_answer(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"] == "failing"
    assert "127.0.0.1" not in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_and_healthz_200_while_the_database_is_gone(database_gone):
    ready = Client().get("/readyz")
    assert ready.status_code == 503
    assert ready["Retry-After"] == "5"
    assert ready.json()["status"] == "unavailable"
    assert ready.json()["checks"]["database"] == "failing"
    body = ready.content.decode()
    assert "127.0.0.1" not in body and "refused" not in body.lower()
    assert Client().get("/healthz").status_code == 200


def test_probes_are_not_redirected_to_https(settings):
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/readyz").status_code == 200
    assert Client().get("/metrics").status_code == 301  # everything else still is
