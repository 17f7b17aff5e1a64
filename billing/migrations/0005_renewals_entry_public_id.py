"""Ledger entries get a public id (``le_<ULID>``), the entryId partners see.

ALTER TABLE ADD COLUMN fires no row trigger, but filling the column in for existing rows
is an UPDATE, which the append-only guards refuse: they are set aside for that one
statement and put back in the same transaction (PostgreSQL disables and re-enables its
trigger; SQLite drops and recreates its no-update trigger). Backfilled ids take the
entry's own creation time, so they sort as the entries do. SQLite rebuilds the table to
make the column unique, which drops its triggers: the guards of 0002 are restored last.
"""

from importlib import import_module

from django.db import migrations, models
from ulid import ULID

import billing.models

_guards = import_module("billing.migrations.0002_ledger_guards")


def backfill_public_ids(apps, schema_editor):
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE billing_ledgerentry DISABLE TRIGGER billing_ledgerentry_append_only"
        )
    elif vendor == "sqlite":
        schema_editor.execute("DROP TRIGGER IF EXISTS billing_ledgerentry_no_update")
    pending = []
    for entry in LedgerEntry.objects.filter(public_id__isnull=True).only("pk", "created_at"):
        entry.public_id = f"le_{ULID.from_datetime(entry.created_at)}"
        pending.append(entry)
    LedgerEntry.objects.bulk_update(pending, ["public_id"], batch_size=1000)
    if vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE billing_ledgerentry ENABLE TRIGGER billing_ledgerentry_append_only"
        )
    elif vendor == "sqlite":
        for statement in _guards._sqlite_forward():
            if "billing_ledgerentry_no_update" in statement:
                schema_editor.execute(statement)


def restore_sqlite_guards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in _guards._sqlite_reverse():
            schema_editor.execute(statement)
        for statement in _guards._sqlite_forward():
            schema_editor.execute(statement)


class Migration(migrations.Migration):

    dependencies = [
        ("billing", "0004_lease_charges"),
    ]

    operations = [
        migrations.AddField(
            model_name="ledgerentry",
            name="public_id",
            field=models.CharField(editable=False, max_length=30, null=True),
        ),
        migrations.RunPython(backfill_public_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="ledgerentry",
            name="public_id",
            field=models.CharField(
                default=billing.models.new_entry_id,
                editable=False,
                help_text="The entryId partners see (le_<ULID>); the row id would reveal volume.",
                max_length=30,
                unique=True,
            ),
        ),
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                fields=["account", "-created_at", "-public_id"], name="ledger_entry_account_page"
            ),
        ),
        migrations.RunPython(restore_sqlite_guards, migrations.RunPython.noop),
    ]
