"""A voided top-up is its own kind (``top_up_void``), linked by ``reverses`` to the
top-up it undoes, like a reversal."""

from django.db import migrations, models


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
    ]
