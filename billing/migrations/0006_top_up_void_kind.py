"""A voided top-up is its own kind (``top_up_void``), linked by ``reverses`` to the
top-up it undoes, like a reversal. SQLite rebuilds the table to change its checks,
which drops its append-only triggers: the guards of 0002 are restored last."""

from importlib import import_module

from django.db import migrations, models

_guards = import_module("billing.migrations.0002_ledger_guards")


def restore_sqlite_guards(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for statement in _guards._sqlite_reverse():
            schema_editor.execute(statement)
        for statement in _guards._sqlite_forward():
            schema_editor.execute(statement)


KINDS = [
    ("funding", "Funding (top-up)"),
    ("charge", "Lease charge (first month)"),
    ("renewal", "Lease renewal"),
    ("adjustment", "Adjustment"),
    ("reversal", "Reversal"),
    ("top_up_void", "Voided top-up"),
]


class Migration(migrations.Migration):
    dependencies = [("billing", "0005_renewals_entry_public_id")]

    operations = [
        migrations.RemoveConstraint(
            model_name="ledgertransaction", name="ledger_transaction_kind_valid"
        ),
        migrations.RemoveConstraint(model_name="ledgertransaction", name="only_reversals_reverse"),
        migrations.AlterField(
            model_name="ledgertransaction",
            name="kind",
            field=models.CharField(choices=KINDS, max_length=16),
        ),
        migrations.AddConstraint(
            model_name="ledgertransaction",
            constraint=models.CheckConstraint(
                condition=models.Q(kind__in=[kind for kind, _ in KINDS]),
                name="ledger_transaction_kind_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgertransaction",
            constraint=models.CheckConstraint(
                condition=models.Q(kind__in=["reversal", "top_up_void"])
                | models.Q(reverses__isnull=True),
                name="only_reversals_reverse",
            ),
        ),
        migrations.AddConstraint(
            model_name="ledgertransaction",
            constraint=models.CheckConstraint(
                condition=~models.Q(kind="top_up_void") | models.Q(reverses__isnull=False),
                name="top_up_void_names_its_top_up",
            ),
        ),
        migrations.RunPython(restore_sqlite_guards, migrations.RunPython.noop),
    ]
