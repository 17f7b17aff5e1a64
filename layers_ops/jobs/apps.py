from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "layers_ops.jobs"
    label = "jobs"
    verbose_name = "Background jobs"

    def ready(self):
        from layers_ops.ops.metrics import register_collector

        from . import metrics

        register_collector(metrics.collect)
