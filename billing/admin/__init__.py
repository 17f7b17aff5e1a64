"""The finance console: wallets (with their money forms, statements and reconciliation
pages) and the ledger. Every page here needs a billing permission (the Finance group has
them; Ops has none). Each form calls one service in ``billing.services``; every read is
a selector."""

from . import ledger, wallets  # noqa: F401  (registers the ModelAdmins)
