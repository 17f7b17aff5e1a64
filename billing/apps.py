from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing (wallets and ledger)"

    def ready(self):
        from layers_ops.ops.metrics import register_collector

        from . import metrics

        register_collector(metrics.collect)
