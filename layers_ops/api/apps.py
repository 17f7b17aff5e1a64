from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "layers_ops.api"
    label = "api"
    verbose_name = "Partner API plumbing"
