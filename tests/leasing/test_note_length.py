"""A note over the limit is refused with its length, never cut: on the request page's
notes, on the close and reject forms, in the service and in the database."""

import re

import pytest
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.urls import reverse

from leasing.models import NOTE_MAX_LENGTH, NoteVisibility, RequestNote, RequestStatus
from leasing.roles import OPS
from leasing.services.errors import LeasingError
from leasing.services.requests import request_note_add
from tests.factories import LeaseRequestFactory, UserFactory
from tests.once import once

pytestmark = pytest.mark.django_db

TOO_LONG = ("word " * 1026)[:5129] + "s"  # 5,130 characters, as pasted from an e-mail
REFUSED = "Note is 5,130 characters; the limit is 2,000."


@pytest.fixture
def ops(client):
    user = UserFactory(username="ops_n")
    user.groups.add(Group.objects.get(name=OPS))
    client.force_login(user)
    return user


def change_url(lease_request):
    return reverse("admin:leasing_leaserequest_change", args=[lease_request.pk])


def add_note(client, lease_request, body):
    return client.post(
        change_url(lease_request),
        {
            **once(client),
            "notes-TOTAL_FORMS": "1",
            "notes-INITIAL_FORMS": "0",
            "notes-MIN_NUM_FORMS": "0",
            "notes-MAX_NUM_FORMS": "1000",
            "notes-0-lease_request": lease_request.pk,
            "notes-0-body": body,
            "notes-0-visibility": "internal",
        },
        follow=True,
    )


def textareas(html: str) -> list[str]:
    return re.findall(r"<textarea[^>]*>", html)


def test_service_refuses_an_over_long_note_saying_how_long_it_is():
    lease_request = LeaseRequestFactory()

    with pytest.raises(LeasingError, match=re.escape(REFUSED)):
        request_note_add(
            lease_request=lease_request, body=TOO_LONG, visibility="internal", author=None
        )

    assert not RequestNote.objects.exists()


def test_a_note_of_exactly_the_limit_is_kept_whole_even_with_windows_line_ends():
    lease_request = LeaseRequestFactory()
    body = ("x" * 99 + "\r\n") * 20  # 2,020 sent; 2,000 once each line end is one "\n"

    note = request_note_add(
        lease_request=lease_request, body=body, visibility="internal", author=None
    )

    note.refresh_from_db()
    assert len(note.body) == NOTE_MAX_LENGTH - 1  # the last line end is trimmed
    assert "\r" not in note.body


def test_the_notes_inline_refuses_an_over_long_note_and_keeps_nothing(client, ops):
    lease_request = LeaseRequestFactory()

    page = add_note(client, lease_request, TOO_LONG).content.decode()

    assert REFUSED in page
    assert "changed successfully" not in page
    assert not RequestNote.objects.exists()


def test_note_boxes_do_not_cut_a_paste_at_the_limit(client, ops):
    lease_request = LeaseRequestFactory()

    change = client.get(change_url(lease_request)).content.decode()
    close = client.get(
        reverse("admin:leasing_leaserequest_close", args=[lease_request.pk, "reject"])
    ).content.decode()

    boxes = textareas(change) + textareas(close)
    assert boxes and not [box for box in boxes if "maxlength" in box]
    assert "at most 2,000 characters" in change.lower() and "at most 2,000" in close.lower()


def test_a_note_within_the_limit_is_added_from_the_inline(client, ops):
    lease_request = LeaseRequestFactory()

    page = add_note(client, lease_request, "x" * NOTE_MAX_LENGTH).content.decode()

    assert "changed successfully" in page
    assert len(RequestNote.objects.get().body) == NOTE_MAX_LENGTH


@pytest.mark.parametrize("outcome", ["reject", "partial"])
def test_close_forms_refuse_an_over_long_note_and_leave_the_request_open(client, ops, outcome):
    lease_request = LeaseRequestFactory()

    response = client.post(
        reverse("admin:leasing_leaserequest_close", args=[lease_request.pk, outcome]),
        {**once(client), "note": TOO_LONG, "partner_visible": "on"},
    )

    assert response.status_code == 200 and REFUSED in response.content.decode()
    lease_request.refresh_from_db()
    assert lease_request.status == RequestStatus.REQUESTED
    assert not RequestNote.objects.exists()


def test_the_database_refuses_an_over_long_note():
    lease_request = LeaseRequestFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        RequestNote.objects.create(
            lease_request=lease_request,
            body="x" * (NOTE_MAX_LENGTH + 1),
            visibility=NoteVisibility.INTERNAL,
        )
