"""A project or API key never changes organization.

Moving a project would hand its leases, requests and history to another partner, so the
database refuses it; the admin shows the field read-only.
"""

from django.db import migrations

TABLES = ("partners_project", "partners_apikey")

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION partners_refuse_owner_change() RETURNS trigger AS $$
BEGIN
    IF NEW.organization_id IS DISTINCT FROM OLD.organization_id THEN
        RAISE EXCEPTION '% % cannot move to another organization', TG_TABLE_NAME, OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    schema_editor.execute(POSTGRES_FUNCTION, params=None)
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER {table}_owner_fixed BEFORE UPDATE OF organization_id "
            f"ON {table} FOR EACH ROW EXECUTE FUNCTION partners_refuse_owner_change()",
            params=None,
        )


def reverse(apps, schema_editor):
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_owner_fixed ON {table}", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS partners_refuse_owner_change()", params=None)


class Migration(migrations.Migration):
    dependencies = [("partners", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse)]
