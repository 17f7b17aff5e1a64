"""The ops console: the queue (queue.py) and the warmed inventory (inventory.py)."""

from . import inventory, queue  # noqa: F401  (registers the ModelAdmins)
