"""Every console page reads on a 1366-px screen without scrolling sideways, with the
data that makes columns wide: a $9,999,999.99 wallet, 64-character request ids, long
names, claimed and overdue requests, past-due leases. Also: each home shows its people
what they need first, and a page someone may not open still looks like the admin."""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from billing.models import LedgerEntry, LedgerTransaction, TransactionKind, Wallet
from leasing.models import Lease, LeaseRequest, SocialAccount
from leasing.roles import FINANCE, OPS
from tests.billing.helpers import lease_accounts
from tests.conftest import make_partner
from tests.e2e.conftest import PASSWORD, log_in, shot
from tests.factories import LeaseRequestFactory, PoolFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

BIG = 999_999_999  # $9,999,999.99
LONG_ID = "partner-request-" + "x" * 39 + "-00000001"  # 64 characters, a partner's own id


@pytest.fixture(autouse=True)
def large_movements_allowed(settings):
    settings.MONEY_MOVEMENT_MAX_CENTS = 10 * BIG


def a_busy_console():
    """Data as wide as a real console gets."""
    rich = make_partner("Extremely Long Partner Name Holdings International", wallet_cents=BIG)
    lease_accounts(rich, count=2)
    poor = make_partner("Small Partner", wallet_cents=30_000)
    leased = lease_accounts(poor, count=2)
    Lease.objects.filter(pk=leased.leases[0].pk).update(
        billing_status="past_due", past_due_since=timezone.now() - timedelta(days=3)
    )
    claimer = UserFactory(username="maximilian.oppenheimer-santiago")
    long_ago = timezone.now() - timedelta(days=30)
    LeaseRequestFactory(
        project=rich.project,
        public_id=LONG_ID,
        count=50,
        vertical="home espresso equipment reviews",
        language="en-US",
        geo=["US", "CA", "GB", "AU", "NZ", "IE"],
        submitted_at=long_ago,
        sla_due_at=long_ago + timedelta(days=2),
        claimed_by=claimer,
        claimed_at=long_ago,
    )
    LeaseRequestFactory(project=poor.project, count=3)
    PoolFactory(
        name="Coffee creators, North America and Commonwealth, batch 2026-11",
        tags=["coffee", "espresso", "latte art", "home barista"],
        geos=["US", "CA", "GB", "AU"],
    )
    return rich, poor


def superuser_logs_in(page, live_server):
    user = UserFactory(username="root", is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def every_page(rich) -> list[str]:
    """Every changelist, add and change page of the admin, and every work page."""
    pages = [reverse("admin:index")]
    for model in admin.site._registry:
        info = model._meta.app_label, model._meta.model_name
        pages.append(reverse("admin:{}_{}_changelist".format(*info)))
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            pages.append(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
    wallet = Wallet.objects.get(organization=rich.organization)
    top_up = LedgerTransaction.objects.filter(
        kind=TransactionKind.FUNDING, entries__account=wallet
    ).first()
    wide = LeaseRequest.objects.get(public_id=LONG_ID)
    pages += [
        reverse("admin:billing_wallet_change", args=[wallet.pk]),
        reverse("admin:billing_wallet_statement", args=[wallet.pk]),
        reverse("admin:billing_wallet_top_up", args=[wallet.pk]),
        reverse("admin:billing_wallet_adjust", args=[wallet.pk]),
        reverse("admin:billing_wallet_refund", args=[wallet.pk]),
        reverse("admin:billing_wallet_void", args=[wallet.pk, top_up.pk]),
        reverse("admin:billing_wallet_move_money"),
        reverse("admin:billing_wallet_reconciliation"),
        reverse("admin:billing_wallet_revenue"),
        reverse("admin:billing_ledgertransaction_change", args=[top_up.pk]),
        reverse("admin:billing_ledgerentry_change", args=[LedgerEntry.objects.last().pk]),
        reverse("admin:leasing_leaserequest_change", args=[wide.pk]),
        reverse("admin:leasing_leaserequest_allocate", args=[wide.pk]),
        reverse("admin:leasing_leaserequest_close", args=[wide.pk, "partial"]),
        reverse("admin:leasing_socialaccount_change", args=[SocialAccount.objects.first().pk]),
        reverse("admin:leasing_socialaccount_import"),
    ]
    return list(dict.fromkeys(pages))


WIDTH_JS = """() => {
    const wider = [];
    const doc = Math.max(document.documentElement.scrollWidth, document.body.scrollWidth);
    if (doc > window.innerWidth) wider.push(`document ${doc - window.innerWidth}px`);
    // Django's changelist puts its table in a box that scrolls by itself (.results):
    // a column hidden there is as lost as one off the page.
    for (const el of document.querySelectorAll("#content *")) {
        const style = getComputedStyle(el);
        if (!["auto", "scroll", "hidden"].includes(style.overflowX)) continue;
        if (el.clientWidth <= 1) continue;  // screen-reader-only text
        // a select box's own options, and the selector's icon links (text pushed aside)
        if (["SELECT", "A", "BUTTON"].includes(el.tagName)) continue;
        if (el.scrollWidth > el.clientWidth + 1) {
            const name = el.id ? `#${el.id}` : el.className ? `.${el.className}` : el.tagName;
            wider.push(`${name} ${el.scrollWidth - el.clientWidth}px`);
        }
    }
    return wider;
}"""


def too_wide(page) -> list[str]:
    """What scrolls sideways: the document, or a box inside it (empty: nothing does)."""
    return page.evaluate(WIDTH_JS)


def test_no_console_page_scrolls_sideways_at_1366px(page, live_server):
    rich, _ = a_busy_console()
    superuser_logs_in(page, live_server)
    wide = {}
    for url in every_page(rich):
        response = page.goto(live_server.url + url)
        assert response.status == 200, url
        name = url.strip("/").replace("/", "_") or "root"
        shot(page, f"1366-{name}")
        if too_wide(page):
            wide[url] = too_wide(page)
    # the pages an action opens: ending leases, moving accounts to another pool
    for changelist, action in [
        ("/admin/leasing/lease/", "end_leases"),
        ("/admin/leasing/socialaccount/", "retire"),
    ]:
        page.goto(live_server.url + changelist)
        page.check("#action-toggle")
        page.select_option("select[name=action]", action)
        page.click("button[name=index]")
        page.wait_for_load_state()
        shot(page, f"1366-action-{action}")
        if too_wide(page):
            wide[f"{changelist} {action}"] = too_wide(page)
    assert wide == {}, "\n".join(f"{url}: {', '.join(why)}" for url, why in wide.items())


def test_finance_home_shows_the_money_position_first(page, live_server):
    a_busy_console()
    log_in(page, live_server, "fin-home", FINANCE)
    panels = page.locator("#content-main > .module").evaluate_all("els => els.map(e => e.id)")
    assert panels[0] == "finance-panel"
    panel = page.locator("#finance-panel")
    text = panel.inner_text()
    assert "$9,999,699.99" in text  # held: $9,999,999.99 less two $150 charges; $0 left
    assert "Monthly burn" in text and "$600.00" in text  # four leases at $150
    assert "Small Partner" in panel.locator("#runs-out-soonest").inner_text()
    assert "1 past-due lease" in text and "$150.00" in text
    assert "Last reconciled" in text
    shot(page, "1366-finance-home")
    assert too_wide(page) == []


def test_ops_home_shows_the_queue_first(page, live_server):
    a_busy_console()
    log_in(page, live_server, "ops-home", OPS)
    panels = page.locator("#content-main > .module").evaluate_all("els => els.map(e => e.id)")
    assert panels[0] == "ops-panel"
    assert "finance-panel" not in panels
    module = page.locator("#ops-panel").bounding_box()
    table = page.locator("#ops-panel table").bounding_box()
    assert table["x"] + table["width"] <= module["x"] + module["width"] + 1  # no spill
    shot(page, "1366-ops-home")
    assert too_wide(page) == []


def test_ops_opening_a_wallet_sees_a_refusal_in_the_admins_look(page, live_server):
    rich, _ = a_busy_console()
    log_in(page, live_server, "ops-403", OPS)
    wallet = Wallet.objects.get(organization=rich.organization)
    response = page.goto(live_server.url + f"/admin/billing/wallet/{wallet.pk}/top-up/")
    assert response.status == 403
    assert page.locator("#site-name").count() == 1  # the admin's header
    assert page.locator("#user-tools").count() == 1  # signed in as, log out
    assert "not allowed" in page.locator("#content").inner_text()
    shot(page, "1366-403")
    assert Group.objects.filter(name=OPS).exists()


def test_a_shortened_id_copies_whole_without_leaving_the_list(page, live_server):
    a_busy_console()
    superuser_logs_in(page, live_server)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(live_server.url + "/admin/leasing/leaserequest/")

    cell = page.locator(f'.short-id[title="{LONG_ID}"]')
    assert cell.inner_text().strip() == "partner-r…0001"
    cell.locator(".copy-id").click()

    assert page.evaluate("navigator.clipboard.readText()") == LONG_ID
    assert page.url.endswith("/admin/leasing/leaserequest/")  # still on the list
