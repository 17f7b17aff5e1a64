from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LeasingConfig(AppConfig):
    name = "leasing"
    verbose_name = "Leasing (ops queue)"

    def ready(self):
        from billing.reconciliation import register_check
        from billing.usage import register_usage_provider
        from layers_ops.ops.metrics import register_collector

        from . import metrics
        from .roles import roles_sync
        from .selectors import (
            LEASE_PERIODS_CHARGED,
            lease_usage_by_organization,
            leases_missing_charges,
        )

        register_usage_provider(lease_usage_by_organization)
        register_check(LEASE_PERIODS_CHARGED, leases_missing_charges)
        register_collector(metrics.collect)

        post_migrate.connect(roles_sync, sender=self, dispatch_uid="leasing.roles_sync")
