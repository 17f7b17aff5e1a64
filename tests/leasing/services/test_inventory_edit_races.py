"""Real threads on PostgreSQL: renaming an account while it is being leased. Whichever
commits first, the partner holds the account by the handle it was leased under."""

import pytest

from billing.models import LedgerTransaction
from leasing.models import AccountEvent, AccountState
from leasing.services.allocation import allocation_assign
from leasing.services.errors import LeasingError
from leasing.services.inventory import social_account_update
from tests.conftest import make_partner
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory
from tests.test_concurrency import fire

pytestmark = pytest.mark.django_db(transaction=True)


def attempt(call):
    try:
        return call()
    except LeasingError as exc:
        return exc


@pytest.mark.parametrize("round_", range(5))
def test_a_rename_racing_an_allocation_never_renames_a_leased_account(round_):
    partner = make_partner()
    ops = UserFactory(username=f"racer{round_}")
    account = SocialAccountFactory(pool=PoolFactory(tags=["coffee"]), handle=f"before_{round_}")
    lease_request = LeaseRequestFactory(project=partner.project, count=1)
    calls = [
        lambda: allocation_assign(lease_request=lease_request, accounts=[account], actor=None),
        lambda: social_account_update(
            account=account, changes={"handle": f"after_{round_}"}, actor=ops
        ),
    ]

    allocated, renamed = fire(2, lambda i: attempt(calls[i]))

    assert not isinstance(allocated, Exception)  # a rename never blocks a lease
    account.refresh_from_db()
    assert account.state == AccountState.LEASED
    memo = LedgerTransaction.objects.filter(memo__contains="first month").values_list(
        "memo", flat=True
    )
    leased_as = {m.split(",")[0].removeprefix("Lease ") for m in memo}  # "Lease @h, first month"
    assert leased_as == {f"@{account.handle}"}  # the handle it was leased under
    edits = AccountEvent.objects.filter(account=account, to_state="")
    if isinstance(renamed, Exception):
        assert "leased to a partner" in str(renamed)
        assert account.handle == f"before_{round_}" and not edits.exists()
    else:
        assert account.handle == f"after_{round_}"
        assert edits.get().changes == {"handle": [f"before_{round_}", f"after_{round_}"]}
