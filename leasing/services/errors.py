"""The refusals every leasing service shares, and the wording they share."""

from ..models import LeaseRequest


class LeasingError(Exception):
    """A leasing rule refused the change; the message is safe to show to staff."""


class RequestClosed(LeasingError):
    """The request is no longer open. ``lease_request`` is the row as read under its lock,
    so whoever answers names the status the service met, not one read before it."""

    def __init__(self, message: str, *, lease_request: LeaseRequest):
        super().__init__(message)
        self.lease_request = lease_request


class RequestChanged(LeasingError):
    """The request is not as the page that asked for the change showed it (another
    allocation or a partner's cancel came first); nothing was changed."""


def accounts_text(n: int) -> str:
    return f"{n} account" if n == 1 else f"{n} accounts"
