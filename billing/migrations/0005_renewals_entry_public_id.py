"""Ledger entries get a public id (``le_<ULID>``), the entryId partners see.

ALTER TABLE ADD COLUMN fires no row trigger, but filling the column in for existing rows
is an UPDATE, which the append-only guards refuse: they are set aside for that one
statement and put back in the same transaction (the trigger is disabled and re-enabled).
Backfilled ids take the entry's own creation time, so they sort as the entries do.
"""

from django.db import migrations, models
from ulid import ULID

import billing.models

def backfill_public_ids(apps, schema_editor):
    LedgerEntry = apps.get_model("billing", "LedgerEntry")
    schema_editor.execute(
        "ALTER TABLE billing_ledgerentry DISABLE TRIGGER billing_ledgerentry_append_only"
    )
    pending = []
    for entry in LedgerEntry.objects.filter(public_id__isnull=True).only("pk", "created_at"):
        entry.public_id = f"le_{ULID.from_datetime(entry.created_at)}"
        pending.append(entry)
    LedgerEntry.objects.bulk_update(pending, ["public_id"], batch_size=1000)
    schema_editor.execute(
        "ALTER TABLE billing_ledgerentry ENABLE TRIGGER billing_ledgerentry_append_only"
    )


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
    ]
