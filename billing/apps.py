from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Billing (wallets and ledger)"

    def ready(self):
        from layers_ops.ops.metrics import register_collector
        from layers_ops.partners.services import register_sandbox_opener

        from . import metrics
        from .services.sandbox import sandbox_wallet_open

        register_collector(metrics.collect)
        register_sandbox_opener(sandbox_wallet_open)
