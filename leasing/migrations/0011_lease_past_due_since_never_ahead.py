"""A lease's ``past_due_since`` is never later than the real time.

Renewals fall past due by the real clock (``periods.renewal_settle``); this makes
PostgreSQL refuse any write that breaks it: a CHECK against the statement's time, with an
hour of slack for clocks between machines (the condition only grows truer as time passes,
so a restore revalidates it). Leases already past due "since" a time ahead of now, left
by a run as of a future time, are first brought back to now: their grace period starts
again now.
"""

from django.db import migrations
from django.db.models.functions import Now

CONSTRAINT = "lease_past_due_since_not_ahead"


def clamp(apps, schema_editor):
    Lease = apps.get_model("leasing", "Lease")
    Lease.objects.filter(past_due_since__gt=Now()).update(past_due_since=Now())


def forward(apps, schema_editor):
    schema_editor.execute(
        f"ALTER TABLE leasing_lease ADD CONSTRAINT {CONSTRAINT} "
        "CHECK (past_due_since <= statement_timestamp() + interval '1 hour')"
    )


def reverse(apps, schema_editor):
    schema_editor.execute(f"ALTER TABLE leasing_lease DROP CONSTRAINT IF EXISTS {CONSTRAINT}")


class Migration(migrations.Migration):
    dependencies = [
        ("leasing", "0010_account_edits_recorded_leased_handle_fixed"),
    ]

    operations = [
        migrations.RunPython(clamp, migrations.RunPython.noop),
        migrations.RunPython(forward, reverse),
    ]
