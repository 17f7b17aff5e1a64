from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LeasingConfig(AppConfig):
    name = "leasing"
    verbose_name = "Leasing (ops queue)"

    def ready(self):
        from .roles import roles_sync

        post_migrate.connect(roles_sync, sender=self, dispatch_uid="leasing.roles_sync")
