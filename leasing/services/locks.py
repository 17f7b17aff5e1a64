"""The locking rules every leasing service follows, and the request lock they share.

Locks are always taken in one order, each kind in primary-key order, so no two services
can deadlock: lease request, then social accounts, then leases, then (inside billing)
the ledger accounts. Renewals start lower down (an advisory lock per organization, the
leases, the ledger accounts, then the accounts of leases ended unpaid) and so does ending
a lease (the lease, then its account); both are safe because whatever locks a leased
account refuses it right after locking it, without waiting for a lease or the ledger
(see ``renewals`` and ``leases``).
"""

from ..models import LeaseRequest
from .errors import RequestChanged


def lock_request(lease_request: LeaseRequest) -> LeaseRequest:
    """The request re-read under its row lock: the first lock every request service takes."""
    return LeaseRequest.objects.select_for_update(of=("self",)).get(pk=lease_request.pk)


def assigned_as_shown(lease_request: LeaseRequest, *, assigned: int, expected: int | None):
    """Refuse when the page was drawn from another assigned count than the locked row's."""
    if expected is not None and assigned != expected:
        raise RequestChanged(
            "This request changed since you opened the page: "
            f"{assigned} of {lease_request.count} already assigned. Nothing was changed; "
            "check the request and choose again."
        )
