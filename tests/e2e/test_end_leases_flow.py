"""An ops person ends two leases from the lease list, giving a reason, in a real browser.

Screenshots (1366 px wide) go to ``E2E_SHOTS_DIR``.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from layers_ops.partners.models import Organization, Project
from leasing.models import AccountEvent, DisconnectReason, Lease, LeaseStatus
from leasing.roles import OPS
from tests.e2e.conftest import log_in, shot
from tests.factories import LeaseFactory, LeaseRequestFactory, PoolFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def leases():
    pool = PoolFactory(name="Coffee US", tags=["coffee"], geos=["US"])
    now = timezone.now()
    made = {}
    for partner, project, handles in [
        ("Brewline", "UGC ads", ["brew.daily", "mocha_max", "cafe_cora"]),
        ("Northwind Fitness", "Spring launch", ["lift_lena", "squat_sam"]),
    ]:
        organization = Organization.objects.create(name=partner)
        project = Project.objects.create(organization=organization, name=project)
        request = LeaseRequestFactory(project=project, count=len(handles), status="assigned")
        for i, handle in enumerate(handles):
            made[handle] = LeaseFactory(
                lease_request=request,
                assigned_at=now - timedelta(days=10 + 7 * i),
                social_account__pool=pool,
                social_account__handle=handle,
            )
    made["squat_sam"].status = LeaseStatus.DISCONNECTED
    made["squat_sam"].disconnected_at = now - timedelta(days=2)
    made["squat_sam"].disconnected_reason = DisconnectReason.UNPAID
    made["squat_sam"].next_renewal_at = None
    made["squat_sam"].save()
    return made


def test_ops_ends_selected_leases_after_giving_a_reason(page, live_server):
    made = leases()
    log_in(page, live_server, "dana.ops", OPS)

    page.goto(live_server.url + "/admin/leasing/lease/")
    for handle in ("mocha_max", "lift_lena", "squat_sam"):
        page.locator("tr", has_text=f"@{handle}").locator("input.action-select").check()
    page.select_option("select[name=action]", "end_leases")
    page.click("button[name=index]")
    page.wait_for_selector("text=2 running leases will end now")
    shot(page, "end-leases-confirm")

    page.fill("#id_reason", "Account flagged by TikTok; partner informed by email")
    page.click("input[type=submit][value='End 2 leases']")
    page.wait_for_selector("text=Ended 2 lease(s)")
    shot(page, "lease-list-after")

    ended = Lease.objects.filter(disconnected_reason=DisconnectReason.OPS)
    assert {lease.social_account.handle for lease in ended} == {"mocha_max", "lift_lena"}
    assert Lease.objects.get(pk=made["brew.daily"].pk).status == LeaseStatus.ASSIGNED
    event = AccountEvent.objects.get(account__handle="mocha_max")
    assert event.actor_label == "dana.ops" and "flagged by TikTok" in event.reason
