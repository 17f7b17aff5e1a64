"""Partner webhooks: endpoints, the events the service emits, and their deliveries.

* ``models``: endpoints (``whe_``), events (``evt_``, the signed body stored once),
  deliveries (``whd_``, one per event and subscribed endpoint) and their attempts.
* ``services``: every state change: ``events_emit`` (called by leasing and billing
  inside the transaction of the change it reports, deferring one delivery job per
  endpoint), endpoint management, replays.
* ``delivery``: one attempt at one delivery (run by the ``webhooks`` job queue):
  signing, the address check against private networks, retries and auto-pause.
* ``views``/``serializers``/``urls``: the partner API under ``/v1/webhook-*``.
* ``admin``: endpoints and deliveries for ops (pause, resume, replay, read attempts).

This app imports neither leasing nor billing: they hand it the event's ``data``.
"""
