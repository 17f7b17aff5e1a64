from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "layers_ops.webhooks"
    label = "webhooks"
    verbose_name = "Partner webhooks"

    def ready(self):
        from layers_ops.ops.metrics import register_collector

        from . import metrics

        register_collector(metrics.collect)
