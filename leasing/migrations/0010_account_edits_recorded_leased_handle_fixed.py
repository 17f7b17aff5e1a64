"""An account's history records edits (``changes``) as well as moves; a leased account
keeps its handle and platform.

While an account is leased the partner holds it by that handle, so the database refuses
changing its handle or platform, whatever code runs the
UPDATE; the admin shows them read-only and ``social_account_update`` refuses first.
"""

from django.conf import settings
from django.db import migrations, models

TABLE = "leasing_socialaccount"
TRIGGER = "leasing_socialaccount_leased_name_fixed"

POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION leasing_refuse_leased_rename() RETURNS trigger AS $$
BEGIN
    IF OLD.state = 'leased' AND (
        NEW.handle IS DISTINCT FROM OLD.handle OR NEW.platform IS DISTINCT FROM OLD.platform
    ) THEN
        RAISE EXCEPTION 'social account % is leased: its handle and platform cannot change '
            'until its lease ends', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def forward(apps, schema_editor):
    schema_editor.execute(POSTGRES_FUNCTION, params=None)
    schema_editor.execute(
        f"CREATE TRIGGER {TRIGGER} BEFORE UPDATE OF handle, platform ON {TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION leasing_refuse_leased_rename()",
        params=None,
    )


def reverse(apps, schema_editor):
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {TABLE}", params=None)
    schema_editor.execute("DROP FUNCTION IF EXISTS leasing_refuse_leased_rename()", params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('leasing', '0009_note_length_checked_not_cut'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='accountevent',
            name='changes',
            field=models.JSONField(blank=True, default=dict, help_text='What an edit changed: {"field": [before, after]}, pools by name.'),
        ),
        migrations.AlterField(
            model_name='accountevent',
            name='to_state',
            field=models.CharField(blank=True, choices=[('warming', 'Warming'), ('ready', 'Ready'), ('leased', 'Leased'), ('cooldown', 'Cooldown'), ('retired', 'Retired')], help_text='Empty for an edit.', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='accountevent',
            constraint=models.CheckConstraint(condition=models.Q(models.Q(('to_state', ''), _negated=True), models.Q(('changes', {}), _negated=True), _connector='OR'), name='account_event_is_a_move_or_an_edit'),
        ),
        migrations.RunPython(forward, reverse),
    ]
