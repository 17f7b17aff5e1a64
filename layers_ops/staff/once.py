"""Forms that take effect once: a one-time token per rendering of an admin form.

A page that changes money or state mints a token when it is drawn (``once_mint``, the
``{% once_field %}`` tag: a hidden ``_once`` input) and the form posts it back. The
service that makes the change consumes it first thing inside its own transaction
(``once_take``): it inserts the token's row, whose primary key is the token, so

* two submits of one rendering at the same moment make one change: the second INSERT
  waits on the first's uncommitted row, then fails and reads what the first did;
* a submit that comes again (a double click, Back and resubmit) changes nothing and says
  what was already done (``AlreadyDone``: "Already done: 1 account assigned at 10:42 by
  you.");
* a change that rolls back takes its token row with it, so the same page can be
  submitted again after fixing what was refused.

A token is signed for the user it was drawn for and expires after ``ONCE_MAX_AGE``
(a day): a missing, forged, someone else's or stale token is refused (``OnceRefused``)
before anything changes. Services take it as ``once=`` (None for callers that are not a
rendered form: commands, the API, the system), and record what they did with
``ticket.done(...)`` so a repeat can say so. ``part`` lets one rendering make one change
per object when a service runs once per object (end leases, claim selected): the token
then guards each object once.
"""

import secrets
from datetime import timedelta

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import FormOnce

ONCE_FIELD = "_once"
ONCE_MAX_AGE = timedelta(days=1)
_SALT = "layers_ops.staff.once"
_signer = signing.TimestampSigner(salt=_SALT)


class OnceRefused(Exception):
    """The form's token is missing, forged, someone else's or too old; nothing changed.
    The message is safe to show."""


class AlreadyDone(OnceRefused):
    """This rendering of the form already took effect; nothing changed this time."""

    def __init__(self, message: str, *, record: FormOnce):
        super().__init__(message)
        self.record = record


def once_mint(*, user) -> str:
    """A fresh token for one rendering of a form, for ``user``."""
    return _signer.sign(f"{secrets.token_urlsafe(16)}:{user.pk}")


def _nonce(token: str, *, user) -> str:
    stale = OnceRefused(
        "This page is out of date (or was opened more than a day ago): nothing was "
        "changed. Reload it and submit again."
    )
    if not token:
        raise stale
    try:
        value = _signer.unsign(token, max_age=ONCE_MAX_AGE)
    except signing.BadSignature:  # forged, cut, or expired (SignatureExpired)
        raise stale from None
    nonce, _, user_pk = value.rpartition(":")
    if user is None or user_pk != str(user.pk):
        raise OnceRefused("This page was opened by someone else: nothing was changed.")
    return nonce


class Ticket:
    """The consumed token of one change; ``done(outcome)`` records what it did."""

    def __init__(self, record: FormOnce | None):
        self.record = record

    def done(self, outcome: str) -> None:
        if self.record is None:
            return
        self.record.outcome = outcome[: FormOnce._meta.get_field("outcome").max_length]
        self.record.save(update_fields=["outcome"])


def once_take(once: str | None, *, user, part: str = "") -> Ticket:
    """Consume ``once`` for ``user`` in the caller's transaction; call it first thing.

    ``None`` means the caller is not a rendered form (nothing to consume). Raises
    ``OnceRefused`` for a bad token, ``AlreadyDone`` (saying what, when and by whom) for
    a token this form already spent. Must run inside the service's ``atomic`` block, so
    a change that fails leaves the token unspent."""
    if once is None:
        return Ticket(None)
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("once_take runs inside the service's transaction.")
    key = f"{_nonce(once, user=user)}:{part}" if part else _nonce(once, user=user)
    try:
        with transaction.atomic():  # a savepoint: a repeat leaves the caller usable
            record = FormOnce.objects.create(token=key, user=user, consumed_at=timezone.now())
    except IntegrityError:
        record = FormOnce.objects.select_related("user").get(token=key)
        raise AlreadyDone(already_done_message(record, user=user), record=record) from None
    return Ticket(record)


def once_check(once: str, *, user) -> None:
    """Refuse now what ``once_take`` would refuse later, spending nothing: for a page
    between the form and the change (a confirmation) that carries the form's token on.
    Raises ``OnceRefused`` for a bad token and ``AlreadyDone`` for a spent one; a token
    being spent at this moment is waited for, so the answer is never a guess."""
    key = _nonce(once, user=user)
    with transaction.atomic():
        try:
            with transaction.atomic():
                FormOnce.objects.create(token=key, user=user, consumed_at=timezone.now())
        except IntegrityError:
            record = FormOnce.objects.select_related("user").get(token=key)
            raise AlreadyDone(already_done_message(record, user=user), record=record) from None
        transaction.set_rollback(True)  # a look, not a spend


def already_done_message(record: FormOnce, *, user) -> str:
    when = timezone.localtime(record.consumed_at)
    at = f"{when:%H:%M}" if when.date() == timezone.localdate() else f"{when:%b %-d %H:%M}"
    who = "you" if record.user_id == getattr(user, "pk", None) else record.user.get_username()
    what = record.outcome or "this form was submitted"
    return f"Already done: {what} at {at} by {who}. Nothing was changed again."


def once_records_purge(*, now=None) -> int:
    """Forget spent tokens older than ``ONCE_MAX_AGE``: their pages are refused as stale
    anyway (a token is minted before it is spent). Returns how many were deleted."""
    cutoff = (now or timezone.now()) - ONCE_MAX_AGE
    deleted, _ = FormOnce.objects.filter(consumed_at__lt=cutoff).delete()
    return deleted
