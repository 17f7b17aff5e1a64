from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "layers_ops.webhooks"
    label = "webhooks"
    verbose_name = "Partner webhooks"
