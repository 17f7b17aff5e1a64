"""Requests keep the partner's spelling of their vertical and store the key it is matched
on (``leasing.validators.vertical_key``); pool tags are stored as keys. Existing rows are
brought in line here: "Fintech" and " fintech" become one vertical."""

from django.db import migrations, models

BATCH = 2000


def normalise_verticals(apps, schema_editor):
    from leasing.validators import vertical_key

    LeaseRequest = apps.get_model("leasing", "LeaseRequest")
    batch = []
    for lease_request in LeaseRequest.objects.only("pk", "vertical").iterator(chunk_size=BATCH):
        # The API never accepted a blank vertical; "-" keeps any such old row valid.
        lease_request.vertical_key = vertical_key(lease_request.vertical) or "-"
        batch.append(lease_request)
        if len(batch) == BATCH:
            LeaseRequest.objects.bulk_update(batch, ["vertical_key"])
            batch = []
    LeaseRequest.objects.bulk_update(batch, ["vertical_key"])

    Pool = apps.get_model("leasing", "Pool")
    for pool in Pool.objects.only("pk", "tags"):
        tags = list(dict.fromkeys(key for key in map(vertical_key, pool.tags or []) if key))
        if tags != pool.tags:
            pool.tags = tags
            pool.save(update_fields=["tags"])


class Migration(migrations.Migration):
    dependencies = [("leasing", "0007_release_end_lease_permission")]

    operations = [
        migrations.AlterField(
            model_name="leaserequest",
            name="vertical",
            field=models.CharField(help_text="As the partner spelled it.", max_length=100),
        ),
        migrations.AddField(
            model_name="leaserequest",
            name="vertical_key",
            field=models.CharField(
                default="",
                help_text="The vertical as matched against pool tags, filtered and counted: "
                "leasing.validators.vertical_key (trimmed, spaces collapsed, case-folded).",
                max_length=300,
            ),
            preserve_default=False,
        ),
        migrations.RunPython(normalise_verticals, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name="leaserequest",
            constraint=models.CheckConstraint(
                condition=models.Q(("vertical_key", ""), _negated=True),
                name="lease_request_vertical_key_set",
            ),
        ),
    ]
