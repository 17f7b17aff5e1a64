import json

from django.db import migrations, models


def body_to_content(apps, schema_editor):
    IdempotencyKey = apps.get_model("api", "IdempotencyKey")
    for row in IdempotencyKey.objects.only("pk", "response_body").iterator():
        content = json.dumps(row.response_body, ensure_ascii=False, separators=(",", ":"))
        IdempotencyKey.objects.filter(pk=row.pk).update(response_content=content)


class Migration(migrations.Migration):
    """Stored answers keep their bytes: jsonb reordered keys, so replays differed."""

    dependencies = [
        ("api", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="idempotencykey",
            name="response_content",
            field=models.TextField(default="", help_text="The answer's body exactly as first sent."),
            preserve_default=False,
        ),
        migrations.RunPython(body_to_content, migrations.RunPython.noop),
        migrations.RemoveField(model_name="idempotencykey", name="response_body"),
    ]
