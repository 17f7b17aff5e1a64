"""The SLA clock: 48 hours of Monday-to-Friday time in San Francisco, holidays off."""

import datetime

import pytest

from leasing.sla import SLA_ZONE, business_time_between, is_business_day, sla_due_at

UTC = datetime.UTC


def pt(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=SLA_ZONE)


def test_friday_afternoon_is_due_tuesday_afternoon():
    assert sla_due_at(pt(2026, 11, 6, 15, 0)) == pt(2026, 11, 10, 15, 0)


def test_monday_morning_is_due_wednesday_morning():
    assert sla_due_at(pt(2026, 11, 2, 9, 30)) == pt(2026, 11, 4, 9, 30)


def test_wednesday_noon_is_due_friday_noon():
    assert sla_due_at(pt(2026, 10, 14, 12, 0)) == pt(2026, 10, 16, 12, 0)


def test_thursday_evening_runs_over_the_weekend_into_monday():
    assert sla_due_at(pt(2026, 10, 15, 18, 0)) == pt(2026, 10, 19, 18, 0)


@pytest.mark.parametrize(
    "submitted",
    [pt(2026, 10, 17, 10, 0), pt(2026, 10, 18, 23, 59), pt(2026, 10, 17, 0, 0)],
    ids=["saturday", "sunday-night", "saturday-midnight"],
)
def test_weekend_submission_starts_the_clock_monday_midnight(submitted):
    assert sla_due_at(submitted) == pt(2026, 10, 21, 0, 0)


def test_thanksgiving_stops_the_clock_but_the_day_after_does_not():
    # Wednesday 2026-11-25 10:00: 14 h Wednesday, Thanksgiving off, 24 h Friday (not a
    # federal holiday), weekend off, 10 h Monday.
    assert sla_due_at(pt(2026, 11, 25, 10, 0)) == pt(2026, 11, 30, 10, 0)


def test_submission_on_thanksgiving_starts_friday():
    assert sla_due_at(pt(2026, 11, 26, 9, 0)) == pt(2026, 12, 1, 0, 0)


def test_observed_holiday_stops_the_clock():
    # Independence Day 2026 is a Saturday, observed Friday 2026-07-03.
    assert not is_business_day(datetime.date(2026, 7, 3))
    assert sla_due_at(pt(2026, 7, 2, 12, 0)) == pt(2026, 7, 7, 12, 0)


def test_christmas_and_new_year():
    # Thursday 2026-12-24 08:00: 16 h, Christmas Friday off, weekend, 24 h Monday 28th,
    # 8 h Tuesday.
    assert sla_due_at(pt(2026, 12, 24, 8, 0)) == pt(2026, 12, 29, 8, 0)


def test_spring_forward_keeps_the_wall_clock_time():
    # DST starts Sunday 2027-03-14: Friday 15:00 PST is due Tuesday 15:00 PDT.
    due = sla_due_at(pt(2027, 3, 12, 15, 0))
    assert due == pt(2027, 3, 16, 15, 0)
    assert due.utcoffset() == datetime.timedelta(hours=-7)
    assert due.astimezone(UTC) == datetime.datetime(2027, 3, 16, 22, 0, tzinfo=UTC)


def test_fall_back_keeps_the_wall_clock_time():
    # DST ends Sunday 2026-11-01: Friday 15:00 PDT is due Tuesday 15:00 PST.
    due = sla_due_at(pt(2026, 10, 30, 15, 0))
    assert due == pt(2026, 11, 3, 15, 0)
    assert due.astimezone(UTC) == datetime.datetime(2026, 11, 3, 23, 0, tzinfo=UTC)


def test_utc_input_is_read_in_san_francisco_time():
    # Saturday 02:00 UTC is still Friday 19:00 PDT: 5 h Friday, 24 h Monday, 19 h Tuesday.
    submitted = datetime.datetime(2026, 10, 17, 2, 0, tzinfo=UTC)
    assert sla_due_at(submitted) == pt(2026, 10, 20, 19, 0)


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="aware"):
        sla_due_at(datetime.datetime(2026, 10, 16, 15, 0))


def test_business_time_between_skips_weekends_and_holidays():
    assert business_time_between(pt(2026, 11, 6, 15, 0), pt(2026, 11, 10, 15, 0)) == (
        datetime.timedelta(hours=48)
    )
    assert business_time_between(pt(2026, 11, 25, 10, 0), pt(2026, 11, 27, 10, 0)) == (
        datetime.timedelta(hours=24)
    )
    assert business_time_between(pt(2026, 11, 10, 0, 0), pt(2026, 11, 9, 0, 0)) == (
        datetime.timedelta(0)
    )


@pytest.mark.parametrize("days", range(0, 14))
def test_due_time_is_always_48_business_hours_after_submission(days):
    submitted = pt(2026, 11, 20, 13, 17) + datetime.timedelta(days=days, hours=days * 5)
    due = sla_due_at(submitted)
    assert business_time_between(submitted, due) == datetime.timedelta(hours=48)
    assert is_business_day(due.date()) or due.time() == datetime.time(0, 0)


@pytest.mark.django_db
def test_the_migration_backfills_due_times_of_existing_requests():
    import importlib

    from django.apps import apps

    from leasing.models import LeaseRequest
    from tests.factories import LeaseRequestFactory

    migration = importlib.import_module("leasing.migrations.0003_queue_sla_due_and_allocate")
    old = LeaseRequestFactory(submitted_at=pt(2026, 11, 6, 15, 0))
    LeaseRequest.objects.filter(pk=old.pk).update(sla_due_at=None)

    migration.backfill_sla_due_at(apps, None)

    old.refresh_from_db()
    assert old.sla_due_at == pt(2026, 11, 10, 15, 0)
