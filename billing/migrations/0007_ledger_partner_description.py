"""Transactions get a partner-facing description beside the internal reason (``memo``).

Partners (API ledger, partner statements) see only ``partner_description``; ``memo`` is
for staff. Existing rows get a neutral text by kind, never their memo. Filling the new
column is an UPDATE, which the append-only guard refuses: as in 0005 it is set aside for
that one statement and put back in the same transaction. Memos themselves are not
rewritten.
"""

from django.db import migrations, models

NEUTRAL_BY_KIND = {
    "funding": "Wallet top-up",
    "charge": "Leased account, first month",
    "renewal": "Leased account renewal",
    "adjustment": "Account adjustment",
    "reversal": "Reversal of an earlier entry",
    "top_up_void": "Top-up voided",
}


def backfill(apps, schema_editor):
    LedgerTransaction = apps.get_model("billing", "LedgerTransaction")
    schema_editor.execute(
        "ALTER TABLE billing_ledgertransaction "
        "DISABLE TRIGGER billing_ledgertransaction_append_only"
    )
    for kind, text in NEUTRAL_BY_KIND.items():
        LedgerTransaction.objects.filter(kind=kind, partner_description="").update(
            partner_description=text
        )
    schema_editor.execute(
        "ALTER TABLE billing_ledgertransaction "
        "ENABLE TRIGGER billing_ledgertransaction_append_only"
    )


class Migration(migrations.Migration):
    dependencies = [("billing", "0006_top_up_void_kind")]

    operations = [
        migrations.AddField(
            model_name="ledgertransaction",
            name="partner_description",
            field=models.CharField(
                blank=True,
                help_text="What the partner sees for this movement (API ledger, partner "
                "statements).",
                max_length=500,
            ),
        ),
        migrations.AlterField(
            model_name="ledgertransaction",
            name="memo",
            field=models.CharField(
                blank=True,
                help_text="The internal reason, for staff only; partners never see it.",
                max_length=500,
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
