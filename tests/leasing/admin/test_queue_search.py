"""Searching the queue: every status, handles typed as pages write them (@handle), and
"Show all" / the status filter's "All" meaning every request."""

import re

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from leasing.models import RequestStatus
from leasing.roles import OPS
from tests.factories import LeaseFactory, LeaseRequestFactory, UserFactory

pytestmark = pytest.mark.django_db

QUEUE = reverse("admin:leasing_leaserequest_changelist")


@pytest.fixture
def ops(client):
    user = UserFactory(username="ops_s")
    user.groups.add(Group.objects.get(name=OPS))
    client.force_login(user)
    return user


@pytest.fixture
def assigned():
    """A request closed as assigned, holding @latte_art_queen."""
    lease_request = LeaseRequestFactory(status=RequestStatus.ASSIGNED, count=1)
    LeaseFactory(lease_request=lease_request, social_account__handle="latte_art_queen")
    return lease_request


def page(client, **params) -> str:
    response = client.get(QUEUE, params)
    assert response.status_code == 200
    return response.content.decode()


def selected_status(html: str) -> str:
    block = re.search(r"By status.*?</ul>", html, re.S).group(0)
    return re.search(r'<li class="selected">\s*<a[^>]*>([^<]+)</a>', block).group(1).strip()


def test_search_by_handle_finds_closed_requests(client, ops, assigned):
    open_request = LeaseRequestFactory()

    found = page(client, q="latte_art")

    assert assigned.public_id in found and open_request.public_id not in found
    assert selected_status(found) == "All"


@pytest.mark.parametrize("typed", ["@latte_art_queen", " @latte_art_queen ", "@LATTE_ART"])
def test_search_accepts_the_handle_as_pages_write_it(client, ops, assigned, typed):
    assert assigned.public_id in page(client, q=typed)


def test_a_status_chosen_with_a_search_still_narrows_it(client, ops, assigned):
    found = page(client, q="latte_art", status="requested")

    assert assigned.public_id not in found
    assert selected_status(found) == "Requested"


def test_show_all_after_a_search_lists_every_status(client, ops, assigned):
    open_request = LeaseRequestFactory()
    searched = page(client, q="nothing_matches_this")

    link = re.search(r'\(<a href="([^"]*)">Show all</a>\)', searched).group(1)
    everything = client.get(QUEUE + link).content.decode()

    assert assigned.public_id in everything and open_request.public_id in everything
    assert selected_status(everything) == "All"


def test_the_queue_opens_on_open_requests_and_all_means_all(client, ops, assigned):
    open_request = LeaseRequestFactory()

    default = page(client)
    everything = page(client, status="all")

    assert open_request.public_id in default and assigned.public_id not in default
    assert selected_status(default) == "Requested"
    assert open_request.public_id in everything and assigned.public_id in everything
    assert selected_status(everything) == "All"


@pytest.mark.parametrize(
    "params",
    [{"q": "@"}, {"q": "@@@"}, {"vertical": ""}, {"status": "bogus"}, {"q": "x" * 5000}],
)
def test_odd_queue_queries_answer_a_page_not_an_error(client, ops, assigned, params):
    response = client.get(QUEUE, params)

    assert response.status_code == 200
