"""What operators see of the service: health probes, Prometheus metrics, request logs and
error reporting. Nothing here knows a business rule: the apps contribute their gauges
through ``metrics.register_collector`` when they load."""
