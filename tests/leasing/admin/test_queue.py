"""The ops console: the queue changelist, claims, the Allocate page, closing, the home
panel, and who may do what."""

import datetime
import re

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from billing.selectors import wallet_balance_cents
from leasing.models import AccountState, Lease, NoteVisibility, RequestNote, RequestStatus
from leasing.roles import FINANCE, OPS
from leasing.services.allocation import allocation_assign
from leasing.sla import sla_due_at
from tests.conftest import make_partner
from tests.factories import (
    LeaseFactory,
    LeaseRequestFactory,
    PoolFactory,
    SocialAccountFactory,
    UserFactory,
)
from tests.once import once

pytestmark = pytest.mark.django_db

PRICE = settings.LEASE_PRICE_CENTS
QUEUE = "admin:leasing_leaserequest_changelist"


def staff(client, group_name, username=None):
    user = UserFactory(username=username or group_name.lower())
    user.groups.add(Group.objects.get(name=group_name))
    client.force_login(user)
    return user


def url(name, lease_request, *args):
    return reverse(f"admin:leasing_leaserequest_{name}", args=[lease_request.pk, *args])


def ready(n, *, tags=("coffee",), **fields):
    pool = PoolFactory(tags=list(tags))
    return [SocialAccountFactory(pool=pool, **fields) for _ in range(n)]


def submitted(hours_ago: float, **fields):
    at = timezone.now() - datetime.timedelta(hours=hours_ago)
    return LeaseRequestFactory(submitted_at=at, sla_due_at=sla_due_at(at), **fields)


def rows(html: str) -> list[str]:
    return re.findall(r'<tr[^>]*>\s*<td class="action-checkbox">.*?</tr>', html, re.S)


# The queue -------------------------------------------------------------------------------


def test_queue_shows_niche_progress_sla_and_claim(client, partner):
    ops = staff(client, OPS)
    lease_request = LeaseRequestFactory(
        project=partner.project, count=3, geo=["US", "CA"], claimed_by=ops
    )
    LeaseFactory(lease_request=lease_request)

    page = client.get(reverse(QUEUE)).content.decode()

    assert f'title="{lease_request.public_id}"' in page  # shortened, whole on hover
    assert '<strong>coffee</strong><br><span class="quiet">en · US, CA</span>' in page
    assert "1 of 3" in page
    assert partner.organization.name in page and partner.project.name in page
    assert f"{timezone.localtime(lease_request.sla_due_at):%Y-%m-%d %H:%M}" in page
    assert ">ops<" in page or "ops</td>" in page


def test_overdue_requests_are_marked_and_filtered_in_the_database(client, partner):
    staff(client, OPS)
    late = submitted(24 * 8, project=partner.project)
    fresh = submitted(1, project=partner.project)

    everything = client.get(reverse(QUEUE)).content.decode()
    overdue = client.get(reverse(QUEUE), {"sla": "overdue"}).content.decode()

    assert "overdue" in everything and late.public_id in everything
    assert late.public_id in overdue and fresh.public_id not in overdue


def test_mine_and_unclaimed_filters(client, partner):
    ops = staff(client, OPS)
    mine = LeaseRequestFactory(project=partner.project, claimed_by=ops)
    theirs = LeaseRequestFactory(project=partner.project, claimed_by=UserFactory())
    nobody = LeaseRequestFactory(project=partner.project)

    only_mine = client.get(reverse(QUEUE), {"claim": "mine"}).content.decode()
    unclaimed = client.get(reverse(QUEUE), {"claim": "unclaimed"}).content.decode()

    assert mine.public_id in only_mine
    assert theirs.public_id not in only_mine and nobody.public_id not in only_mine
    assert nobody.public_id in unclaimed and mine.public_id not in unclaimed


def test_vertical_and_language_filters(client, partner):
    staff(client, OPS)
    coffee = LeaseRequestFactory(project=partner.project, vertical="coffee", language="en")
    games = LeaseRequestFactory(project=partner.project, vertical="games", language="pt-BR")

    by_vertical = client.get(reverse(QUEUE), {"vertical": "games"}).content.decode()
    by_language = client.get(reverse(QUEUE), {"language": "en"}).content.decode()

    assert games.public_id in by_vertical and coffee.public_id not in by_vertical
    assert coffee.public_id in by_language and games.public_id not in by_language


def test_search_finds_requests_by_the_handle_of_an_assigned_account(client, partner):
    staff(client, OPS)
    found = LeaseRequestFactory(project=partner.project)
    other = LeaseRequestFactory(project=partner.project)
    lease = LeaseFactory(lease_request=found, social_account__handle="latte_art_queen")

    page = client.get(reverse(QUEUE), {"q": "latte_art"}).content.decode()
    by_partner = client.get(reverse(QUEUE), {"q": partner.organization.name}).content.decode()

    assert found.public_id in page and other.public_id not in page
    assert lease.social_account.handle
    assert found.public_id in by_partner and other.public_id in by_partner


@pytest.mark.parametrize("many", [50])
def test_queue_runs_the_same_number_of_queries_for_many_rows(
    client, partner, many, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    staff(client, OPS)
    claimant = UserFactory()

    def populate(n):
        for i in range(n):
            lease_request = LeaseRequestFactory(project=make_partner().project, claimed_by=claimant)
            if i % 3 == 0:
                LeaseFactory(lease_request=lease_request)

    populate(10)
    with CaptureQueriesContext(connection) as ten:
        assert client.get(reverse(QUEUE)).status_code == 200
    populate(many - 10)
    with django_assert_max_num_queries(len(ten)):
        page = client.get(reverse(QUEUE)).content.decode()
    assert page.count('class="action-checkbox"') == many


# Claims ---------------------------------------------------------------------------------


def test_claim_button_then_take_over_says_whose_it_was(client, partner):
    alice = staff(client, OPS, "alice")
    lease_request = LeaseRequestFactory(project=partner.project)

    client.post(url("claim", lease_request), {**once(client), "do": "claim"})
    lease_request.refresh_from_db()
    assert lease_request.claimed_by == alice

    staff(client, OPS, "bob")
    refused = client.post(url("claim", lease_request), {**once(client), "do": "claim"}, follow=True)
    assert "alice is working request" in refused.content.decode().lower()
    taken = client.post(
        url("claim", lease_request), {**once(client), "do": "take_over"}, follow=True
    )
    assert "Taken over from alice" in taken.content.decode()
    lease_request.refresh_from_db()
    assert lease_request.claimed_by.username == "bob"


def test_claim_actions_on_the_list(client, partner):
    ops = staff(client, OPS)
    first = LeaseRequestFactory(project=partner.project)
    second = LeaseRequestFactory(project=partner.project, claimed_by=UserFactory(username="eve"))

    response = client.post(
        reverse(QUEUE),
        {**once(client), "action": "claim_selected", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    page = response.content.decode()
    assert "You now work 1 request(s)" in page and "eve is working request" in page.lower()
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.claimed_by == ops and second.claimed_by.username == "eve"


# Notes ----------------------------------------------------------------------------------


def test_notes_cannot_be_edited_or_deleted(client, partner):
    ops = staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project)
    note = RequestNote.objects.create(
        lease_request=lease_request, body="original", visibility="partner", author=ops
    )

    client.post(
        url("change", lease_request),
        {
            **once(client),
            "notes-TOTAL_FORMS": "1",
            "notes-INITIAL_FORMS": "1",
            "notes-0-id": note.pk,
            "notes-0-lease_request": lease_request.pk,
            "notes-0-body": "rewritten",
            "notes-0-visibility": "internal",
            "notes-0-DELETE": "on",
        },
    )

    note.refresh_from_db()
    assert (note.body, note.visibility) == ("original", "partner")


# Allocate -------------------------------------------------------------------------------


def test_allocate_page_shows_need_wallet_and_ranked_reasons(client, partner):
    staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project, count=5, geo=["US"])
    ready(3, follower_geos=["US"])

    page = client.get(url("allocate", lease_request)).content.decode()

    assert "5 still needed" in page
    assert "$3,000.00" in page and "covers 20 account-months" in page
    assert page.count('name="choose-accounts"') == 3
    assert "followers in US (1 of 1 asked) +40" in page
    assert 'value="3"' in page  # pick best suggests what supply allows


def test_pick_best_from_the_page_assigns_charges_and_says_so(client, partner):
    ops = staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project, count=5)
    ready(5)

    response = client.post(
        url("allocate", lease_request),
        {**once(client), "best-count": "3", "pick_best": "1"},
        follow=True,
    )

    page = response.content.decode()
    assert "Assigned 3 account(s)" in page and "charged $450.00" in page
    assert "2 still needed" in page
    assert Lease.objects.filter(lease_request=lease_request, assigned_by=ops).count() == 3
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000 - 3 * PRICE
    assert LogEntry.objects.filter(object_id=str(lease_request.pk)).exists()


def test_ticked_accounts_are_assigned(client, partner):
    staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project, count=2)
    accounts = ready(4)

    client.post(
        url("allocate", lease_request),
        {**once(client), "choose-accounts": [accounts[1].pk, accounts[3].pk], "assign": "1"},
    )

    assert sorted(
        Lease.objects.filter(lease_request=lease_request).values_list(
            "social_account_id", flat=True
        )
    ) == sorted([accounts[1].pk, accounts[3].pk])
    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.ASSIGNED


def test_a_lost_race_is_a_message_on_the_page_not_an_error(client, partner):
    staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project, count=2)
    accounts = ready(2)
    other = LeaseRequestFactory(project=make_partner().project, count=1)
    allocation_assign(lease_request=other, accounts=[accounts[0]], actor=None)

    response = client.post(
        url("allocate", lease_request),
        {**once(client), "choose-accounts": [a.pk for a in accounts], "assign": "1"},
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "No longer ready" in page and accounts[0].pk in page
    assert not Lease.objects.filter(lease_request=lease_request).exists()


def test_a_short_wallet_is_a_message_on_the_page(client):
    staff(client, OPS)
    poor = make_partner(wallet_cents=PRICE)
    lease_request = LeaseRequestFactory(project=poor.project, count=3)
    ready(3)

    response = client.post(
        url("allocate", lease_request), {**once(client), "best-count": "3", "pick_best": "1"}
    )

    assert response.status_code == 200
    assert "covers 1 of the 3 accounts chosen" in response.content.decode()
    assert not Lease.objects.exists()


def test_ticking_nothing_asks_to_tick(client, partner):
    staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project)
    ready(2)

    response = client.post(url("allocate", lease_request), {**once(client), "assign": "1"})

    assert "Tick at least one account." in response.content.decode()


# Close ----------------------------------------------------------------------------------


def test_close_as_partial_with_a_partner_visible_note(client, partner):
    staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project, count=3)
    allocation_assign(lease_request=lease_request, accounts=ready(1), actor=None)

    response = client.post(
        url("close", lease_request, "partial"),
        {**once(client), "note": "Only one fits this niche this week.", "partner_visible": "on"},
        follow=True,
    )

    assert "Closed" in response.content.decode()
    polled = partner.client.get(f"/v1/leased-accounts/requests/{lease_request.public_id}").json()
    assert polled["status"] == "partial"
    assert polled["note"] == "Only one fits this niche this week."


def test_close_needs_a_note_and_an_internal_note_stays_internal(client, partner):
    staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project)

    empty = client.post(url("close", lease_request, "reject"), {**once(client), "note": ""})
    assert empty.status_code == 200 and "This field is required" in empty.content.decode()
    client.post(
        url("close", lease_request, "reject"), {**once(client), "note": "No pool for knitting."}
    )

    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.REJECTED
    assert RequestNote.objects.get().visibility == NoteVisibility.INTERNAL
    polled = partner.client.get(f"/v1/leased-accounts/requests/{lease_request.public_id}").json()
    assert polled["status"] == "rejected" and polled["note"] is None


def test_partial_with_nothing_assigned_is_refused_on_the_form(client, partner):
    staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project)

    response = client.post(url("close", lease_request, "partial"), {**once(client), "note": "why"})

    assert "reject the request instead" in response.content.decode()
    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.REQUESTED


# Roles ----------------------------------------------------------------------------------


def test_finance_reads_requests_but_cannot_claim_allocate_or_close(client, partner):
    staff(client, FINANCE)
    lease_request = LeaseRequestFactory(project=partner.project)
    ready(2)

    change = client.get(url("change", lease_request))
    assert change.status_code == 200
    page = change.content.decode()
    assert "Allocate accounts" not in page and "Claim</button>" not in page
    assert client.get(url("allocate", lease_request)).status_code == 403
    assert (
        client.post(
            url("allocate", lease_request), {**once(client), "best-count": "1", "pick_best": "1"}
        )
    ).status_code == 403
    assert (
        client.post(
            url("close", lease_request, "reject"), {**once(client), "note": "x"}
        ).status_code
        == 403
    )
    assert (
        client.post(url("claim", lease_request), {**once(client), "do": "claim"}).status_code == 403
    )
    client.post(
        reverse(QUEUE),
        {**once(client), "action": "claim_selected", "_selected_action": [lease_request.pk]},
    )
    lease_request.refresh_from_db()
    assert lease_request.claimed_by is None and lease_request.status == RequestStatus.REQUESTED
    assert not Lease.objects.exists()


def test_ops_sees_the_work_buttons(client, partner):
    staff(client, OPS)
    lease_request = LeaseRequestFactory(project=partner.project)

    page = client.get(url("change", lease_request)).content.decode()

    assert "Allocate accounts" in page and "Claim</button>" in page and "Reject" in page


# Home panel ------------------------------------------------------------------------------


def test_home_panel_counts_and_shows_shortage_by_vertical(
    client, partner, django_assert_max_num_queries
):
    ops = staff(client, OPS)
    submitted(24 * 8, project=partner.project, vertical="coffee", count=5)
    LeaseRequestFactory(project=partner.project, vertical="Coffee", count=2, claimed_by=ops)
    LeaseRequestFactory(project=partner.project, vertical="fitness", count=1)
    ready(3, tags=("coffee",))
    ready(4, tags=("fitness",))
    ready(2, tags=("fitness",), state=AccountState.WARMING)

    with django_assert_max_num_queries(12):
        page = client.get(reverse("admin:index")).content.decode()

    assert 'id="ops-panel"' in page
    counts = re.findall(r'<span class="n">(\d+)</span> ([a-z ]+)</a>', page)
    assert counts == [
        ("3", "open requests"),
        ("1", "overdue"),
        ("2", "unclaimed"),
        ("1", "claimed by you"),
    ]
    assert "short by 4" in page  # coffee: 7 needed, 3 ready
    assert "covered" in page  # fitness: 1 needed, 4 ready


def test_home_panel_query_count_does_not_grow(client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    staff(client, OPS)
    with CaptureQueriesContext(connection) as empty:
        client.get(reverse("admin:index"))
    for vertical in ("a", "b", "c", "d"):
        partner = make_partner()
        LeaseRequestFactory(project=partner.project, vertical=vertical)
        ready(2, tags=(vertical,))

    with django_assert_max_num_queries(len(empty)):
        client.get(reverse("admin:index"))


def test_lease_list_reads_in_dollars_and_dates_with_fixed_queries(
    client, partner, django_assert_max_num_queries
):
    staff(client, FINANCE)
    url_ = reverse("admin:leasing_lease_changelist")

    def add_leases(n):
        for _ in range(n):
            LeaseFactory(lease_request=LeaseRequestFactory(project=partner.project, count=1))

    add_leases(2)
    LeaseFactory(
        lease_request=LeaseRequestFactory(project=partner.project, count=1),
        billing_status="past_due",
        past_due_since=timezone.now(),
    )
    with django_assert_max_num_queries(12) as few:
        html = client.get(url_).content.decode()
    add_leases(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url_)

    assert "$150.00" in html and "15000" not in html
    assert "past due" in html
    assert partner.organization.name in html
