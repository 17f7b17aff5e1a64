"""The ops console: the queue (queue.py, with its allocate, close, claims and notes
pages), the leases (leases.py) and the warmed inventory (inventory.py)."""

from . import inventory, leases, queue  # noqa: F401  (registers the ModelAdmins)
