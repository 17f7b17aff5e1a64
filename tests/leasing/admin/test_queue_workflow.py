"""Working the queue in the admin: poor fits need consent, claims are respected on the
Allocate and close pages, "Next request" keeps the queue's filters, and the queue says
how many requests arrived since it was loaded."""

import datetime
import json
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from billing.selectors import wallet_balance_cents
from leasing.models import Lease, RequestNote, RequestStatus
from leasing.roles import OPS
from leasing.services.claims import request_claim
from tests.factories import LeaseRequestFactory, PoolFactory, SocialAccountFactory, UserFactory
from tests.once import once

pytestmark = pytest.mark.django_db

QUEUE = "admin:leasing_leaserequest_changelist"


def staff(client, username="ops"):
    user = UserFactory(username=username)
    user.groups.add(Group.objects.get(name=OPS))
    client.force_login(user)
    return user


def url(name, lease_request, *args):
    return reverse(f"admin:leasing_leaserequest_{name}", args=[lease_request.pk, *args])


def beauty_br(partner, **fields):
    return LeaseRequestFactory(
        project=partner.project,
        vertical="beauty",
        language="pt-BR",
        geo=["BR"],
        **{"count": 2, **fields},
    )


def spanish_beauty(n):
    pool = PoolFactory(name="Beauty ES", tags=["beauty"], language="es", geos=["MX"])
    return [SocialAccountFactory(pool=pool, follower_geos=["MX"]) for _ in range(n)]


def brazilian_beauty(n):
    pool = PoolFactory(name="Beauty BR", tags=["beauty"], language="pt-BR", geos=["BR"])
    return [SocialAccountFactory(pool=pool, follower_geos=["BR"]) for _ in range(n)]


# Poor fit ------------------------------------------------------------------------------


def test_allocate_page_warns_when_no_account_matches_language_or_geo(client, partner):
    staff(client)
    lease_request = beauty_br(partner)
    spanish_beauty(3)

    page = client.get(url("allocate", lease_request)).content.decode()

    assert "No ready account matches pt-BR · BR" in page
    assert "I accept accounts that do not match the language/geo" in page
    assert 'id="id_best-count"' in page and 'value="2"' not in page  # nothing pre-filled
    assert page.count("poor fit") >= 3
    assert url("close", lease_request, "reject") in page  # Reject offered up front


def test_assigning_poor_fits_from_the_page_needs_the_checkbox(client, partner):
    staff(client)
    lease_request = beauty_br(partner)
    spanish_beauty(3)

    refused = client.post(
        url("allocate", lease_request), {**once(client), "best-count": "1", "pick_best": "1"}
    )
    assert refused.status_code == 200
    assert "Nothing was assigned" in refused.content.decode()
    assert not Lease.objects.exists()
    assert wallet_balance_cents(organization_id=partner.organization.pk) == 300_000

    accepted = client.post(
        url("allocate", lease_request),
        {**once(client), "best-count": "1", "pick_best": "1", "best-allow_poor_fit": "on"},
        follow=True,
    )
    assert "Assigned 1 account(s)" in accepted.content.decode()
    assert Lease.objects.filter(lease_request=lease_request).count() == 1


def test_ticked_poor_fits_need_the_checkbox_too(client, partner):
    staff(client)
    lease_request = beauty_br(partner)
    accounts = spanish_beauty(1)

    client.post(
        url("allocate", lease_request), {**once(client), "choose-accounts": [accounts[0].pk]}
    )
    assert not Lease.objects.exists()
    client.post(
        url("allocate", lease_request),
        {
            **once(client),
            "choose-accounts": [accounts[0].pk],
            "choose-allow_poor_fit": "on",
            "assign": "1",
        },
    )
    assert Lease.objects.filter(social_account=accounts[0]).exists()


def test_good_fits_are_pre_filled_and_ask_no_consent(client, partner):
    staff(client)
    lease_request = beauty_br(partner)
    brazilian_beauty(2)
    spanish_beauty(2)

    page = client.get(url("allocate", lease_request)).content.decode()

    assert "No ready account matches" not in page
    assert 'value="2"' in page  # the two that fit
    assert "2 of the ready accounts shown do not match" in page


def test_no_pool_for_the_vertical_offers_reject_and_back(client, partner):
    staff(client)
    lease_request = LeaseRequestFactory(project=partner.project, vertical="knitting")

    page = client.get(url("allocate", lease_request)).content.decode()

    assert url("close", lease_request, "reject") in page
    assert "Back to the queue" in page


def test_home_panel_counts_only_accounts_that_fit_language_and_geo(client, partner):
    staff(client)
    beauty_br(partner, count=1)
    spanish_beauty(5)

    page = client.get(reverse("admin:index")).content.decode()

    assert "short by 1" in page
    assert "covered" not in page


# Claims --------------------------------------------------------------------------------


def test_allocate_page_names_the_claim_and_offers_take_over(client, partner):
    alice = UserFactory(username="alice")
    lease_request = beauty_br(partner)
    request_claim(lease_request=lease_request, actor=alice)
    brazilian_beauty(2)
    staff(client, "bob")

    page = client.get(url("allocate", lease_request)).content.decode()
    assert "alice is working this request" in page
    assert "Take over from alice" in page

    refused = client.post(
        url("allocate", lease_request), {**once(client), "best-count": "1", "pick_best": "1"}
    )
    assert "alice is working request" in refused.content.decode()
    assert not Lease.objects.exists()

    allocate_url = url("allocate", lease_request)
    taken = client.post(
        url("claim", lease_request),
        {**once(client), "do": "take_over", "next": allocate_url},
        follow=True,
    )
    assert taken.redirect_chain[-1][0] == allocate_url
    assert "Taken over from alice" in taken.content.decode()
    client.post(allocate_url, {**once(client), "best-count": "1", "pick_best": "1"})
    assert Lease.objects.filter(lease_request=lease_request).count() == 1
    assert RequestNote.objects.filter(body="Took over the claim from alice.").exists()


def test_close_page_refuses_someone_elses_claim(client, partner):
    alice = UserFactory(username="alice")
    lease_request = beauty_br(partner)
    request_claim(lease_request=lease_request, actor=alice)
    staff(client, "bob")

    page = client.get(url("close", lease_request, "reject")).content.decode()
    assert "Take over from alice" in page
    refused = client.post(
        url("close", lease_request, "reject"), {**once(client), "note": "No pool."}
    )

    assert "alice is working request" in refused.content.decode()
    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.REQUESTED


def test_assigning_from_the_page_claims_the_request(client, partner):
    ops = staff(client)
    lease_request = beauty_br(partner)
    brazilian_beauty(1)

    client.post(
        url("allocate", lease_request), {**once(client), "best-count": "1", "pick_best": "1"}
    )

    lease_request.refresh_from_db()
    assert lease_request.claimed_by == ops


# Next request and arrivals -------------------------------------------------------------


def submitted(hours_ago, **fields):
    return LeaseRequestFactory(
        submitted_at=timezone.now() - datetime.timedelta(hours=hours_ago), **fields
    )


def test_next_request_is_the_oldest_unclaimed_open_one_in_the_same_filters(client, partner):
    staff(client)
    filters = urlencode({"vertical": "games"})
    current = submitted(50, project=partner.project, vertical="games", count=1)
    submitted(40, project=partner.project, vertical="games", claimed_by=UserFactory())
    submitted(45, project=partner.project, vertical="coffee")  # outside the filter
    oldest_free = submitted(30, project=partner.project, vertical="games")
    submitted(10, project=partner.project, vertical="games")
    accounts = SocialAccountFactory.create_batch(1, pool=PoolFactory(tags=["games"]))

    allocated = client.post(
        url("allocate", current) + "?" + urlencode({"_changelist_filters": filters}),
        {**once(client), "choose-accounts": [accounts[0].pk], "assign": "1"},
        follow=True,
    )
    page = allocated.content.decode()
    assert "Next request" in page
    next_link = (
        reverse("admin:leasing_leaserequest_next")
        + "?"
        + urlencode({"_changelist_filters": filters})
    )
    assert next_link.replace("&", "&amp;") in page or next_link in page

    response = client.get(next_link)
    target = urlsplit(response["Location"])
    assert target.path == url("change", oldest_free)
    assert parse_qs(target.query)["_changelist_filters"] == [filters]


def test_next_request_with_none_left_goes_back_to_the_queue_with_a_message(client, partner):
    staff(client)
    filters = urlencode({"vertical": "games"})

    response = client.get(
        reverse("admin:leasing_leaserequest_next"),
        {"_changelist_filters": filters},
        follow=True,
    )

    assert response.redirect_chain[-1][0] == reverse(QUEUE) + "?" + filters
    assert "No unclaimed open request left" in response.content.decode()


def test_work_pages_carry_the_queue_filters(client, partner):
    staff(client)
    lease_request = LeaseRequestFactory(project=partner.project)
    filters = urlencode({"vertical": "coffee"})
    query = urlencode({"_changelist_filters": filters})

    change = client.get(url("change", lease_request) + "?" + query).content.decode()
    allocate = client.get(url("allocate", lease_request) + "?" + query).content.decode()

    escaped = query.replace("&", "&amp;")
    assert f"{url('allocate', lease_request)}?{escaped}" in change
    assert f"{url('close', lease_request, 'reject')}?{escaped}" in change
    assert f"{url('change', lease_request)}?{escaped}" in allocate


def test_queue_counts_requests_that_arrived_since_it_was_loaded(client, partner):
    staff(client)
    page = client.get(reverse(QUEUE), {"vertical": "games"}).content.decode()
    assert 'id="queue-arrivals"' in page
    since = json.loads(
        page.split('id="queue-arrivals-since" type="application/json">')[1].split("</script>")[0]
    )
    submitted(1, project=partner.project, vertical="games")  # before the page: not new
    LeaseRequestFactory(project=partner.project, vertical="games")
    LeaseRequestFactory(project=partner.project, vertical="games")
    LeaseRequestFactory(project=partner.project, vertical="coffee")

    answer = client.get(
        reverse("admin:leasing_leaserequest_arrivals"),
        {"since": since, "_changelist_filters": urlencode({"vertical": "games"})},
    )

    assert answer.status_code == 200
    assert answer.json()["count"] == 2
    everything = client.get(reverse("admin:leasing_leaserequest_arrivals"), {"since": since})
    assert everything.json()["count"] == 3


def test_arrivals_with_a_bad_since_is_a_clear_400(client):
    staff(client)
    arrivals = reverse("admin:leasing_leaserequest_arrivals")

    bad = client.get(arrivals, {"since": "yesterday"})
    far = client.get(arrivals, {"since": "9999-12-31T23:59:59+00:00"})

    assert bad.status_code == 400 and "since" in bad.json()["error"]
    assert far.status_code == 200 and far.json()["count"] == 0


def test_filters_the_queue_refuses_are_a_message_not_an_error(client):
    staff(client)
    bad = urlencode({"claimed_by__password__startswith": "a"})

    following = client.get(
        reverse("admin:leasing_leaserequest_next"), {"_changelist_filters": bad}, follow=True
    )
    arrivals = client.get(
        reverse("admin:leasing_leaserequest_arrivals"),
        {"_changelist_filters": bad, "since": "2026-01-01T00:00:00+00:00"},
    )

    assert following.redirect_chain[-1][0] == reverse(QUEUE)
    assert "Those queue filters are not valid" in following.content.decode()
    assert arrivals.status_code == 400 and "not valid" in arrivals.json()["error"]
