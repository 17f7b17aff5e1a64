from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class StaffConfig(AppConfig):
    """Staff sign-in: the admin site's gate (password, second factor, lockout, session
    lifetime), the staff lifecycle and the record of who signed in from where."""

    default = True
    name = "layers_ops.staff"
    label = "staff"
    verbose_name = "Staff sign-in"

    def ready(self):
        from . import signals  # noqa: F401  (records sign-ins, failures and lockouts)


class LayersAdminConfig(admin_apps.AdminConfig):
    """Django's admin, served by the site that asks for the second factor."""

    default = False  # named in INSTALLED_APPS in place of django.contrib.admin

    default_site = "layers_ops.staff.site.LayersAdminSite"
