from django.apps import AppConfig


class PartnersConfig(AppConfig):
    name = "layers_ops.partners"
    label = "partners"
    verbose_name = "Partners and API keys"
