"""Building blocks for the finance-console tests: staff in a group, real lease charges."""

from django.contrib.auth.models import Group

from leasing.services.allocation import allocation_assign
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory


def staff_in(group_name: str, username: str):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=group_name))
    return user


def lease_accounts(partner, count=2, actor=None):
    """Assign ``count`` accounts from a small pool to the partner's project: one first-month
    charge per lease, posted by the real allocation service."""
    pool = PoolFactory(tags=["coffee"])
    accounts = SocialAccountFactory.create_batch(count, pool=pool)
    lease_request = LeaseRequestFactory(project=partner.project, count=count)
    return allocation_assign(lease_request=lease_request, accounts=accounts, actor=actor)
