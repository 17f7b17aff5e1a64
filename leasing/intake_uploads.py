"""CSV uploads for the admin's intake, from the upload to the confirm step.

* ``IntakeUploadLimit`` (an upload handler, first in ``FILE_UPLOAD_HANDLERS``) stops
  reading a request as soon as its file is over ``INTAKE_MAX_UPLOAD_MB``: the rest of the
  body is drained in 1 MB blocks, not stored, and the view answers with a message
  (``upload_refusal(request)``).
* The preview reads the uploaded file as a stream (``upload_lines``). Only a preview that
  can be confirmed keeps the file: ``intake_upload_keep`` copies it, chunk by chunk, into
  ``INTAKE_UPLOAD_DIR`` under a random token and records the token in the user's session
  with the options previewed. The confirm form carries only that token.
* ``intake_upload_claim`` takes a token back from the same session and user, once: the
  file is renamed before it is read, so a double submit imports it once. Anything else
  (another user's token, a tampered one, an expired one) is refused.
* Every path deletes the file: refusal (never kept), confirm (claimed, then deleted),
  abandonment (``intake_uploads_purge`` removes files older than
  ``INTAKE_UPLOAD_TTL_MINUTES``; each new preview and the ``purge_intake_uploads``
  command run it).
"""

import io
import os
import re
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

SESSION_KEY = "intake_uploads"
TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
SUFFIX = ".csv"
CLAIMED = ".claimed"
FIELDS_ROOM = 64 * 1024  # the import form's other fields, around the file
MEGABYTE = 1024 * 1024
DRAIN_BLOCK = MEGABYTE


def max_upload_bytes() -> int:
    return settings.INTAKE_MAX_UPLOAD_MB * MEGABYTE


def too_large_message(size: int | None = None) -> str:
    was = f" (this one is {size / MEGABYTE:,.1f} MB)" if size else ""
    return (
        f"The file is larger than {settings.INTAKE_MAX_UPLOAD_MB} MB{was}: nothing was read. "
        "Split it, or load it with the import_accounts command."
    )


class IntakeUploadLimit(FileUploadHandler):
    """Refuses an upload over ``INTAKE_MAX_UPLOAD_MB`` before it is read into memory or a
    temporary file: at once when the request says it is larger (Content-Length), else as
    soon as the file's bytes pass the limit. The view then finds ``upload_refusal``."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.limit = max_upload_bytes()
        self.input_data = input_data
        self.request_length = content_length
        self.received = 0
        return None  # let the other handlers parse

    def new_file(self, *args, **kwargs):
        super().new_file(*args, **kwargs)
        self.received = 0
        if self.request_length and self.request_length > self.limit + FIELDS_ROOM:
            self._stop(self.request_length)

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > self.limit:
            self._stop(None)
        return raw_data

    def file_complete(self, file_size):
        return None

    def _stop(self, size):
        self.request.intake_upload_refused = too_large_message(size)
        # Drain the rest of the body in large blocks, so the client reads the answer on a
        # healthy connection (Django's own drain reads line by line: seconds for a CSV),
        # then tell the parser not to drain it again.
        while self.input_data.read(DRAIN_BLOCK):
            pass
        raise StopUpload(connection_reset=True)


def upload_refusal(request) -> str:
    """The message for an upload the handler stopped, or ""."""
    request.POST  # noqa: B018 - parsing the body is what runs the handler
    return getattr(request, "intake_upload_refused", "")


@contextmanager
def upload_lines(uploaded):
    """An uploaded file (in memory or on disk) as text lines for ``rows_iter``."""
    uploaded.seek(0)
    text = io.TextIOWrapper(uploaded.file, encoding="utf-8-sig", newline="")
    try:
        yield text
    finally:
        text.detach()  # Django closes the upload itself


def _dir() -> Path:
    return Path(settings.INTAKE_UPLOAD_DIR)


def _ttl_seconds() -> int:
    return settings.INTAKE_UPLOAD_TTL_MINUTES * 60


def intake_upload_keep(*, session, user, uploaded, options: dict) -> str:
    """Stores an upload whose preview can be confirmed; returns its token."""
    directory = _dir()
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path = directory / f"{token}{SUFFIX}"
    uploaded.seek(0)
    try:
        with open(path, "xb") as out:
            for chunk in uploaded.chunks():
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    pending = _pending(session)
    pending[token] = {
        "user": user.pk,
        "file_name": uploaded.name,
        "options": options,
        "stored_at": time.time(),
    }
    session[SESSION_KEY] = pending
    return token


def _pending(session) -> dict:
    """The session's uploads awaiting confirmation, without the expired ones."""
    oldest = time.time() - _ttl_seconds()
    return {
        token: entry
        for token, entry in session.get(SESSION_KEY, {}).items()
        if entry.get("stored_at", 0) >= oldest
    }


@dataclass(frozen=True)
class ClaimedUpload:
    path: Path
    file_name: str
    options: dict

    @contextmanager
    def lines(self):
        with open(self.path, encoding="utf-8-sig", newline="") as text:
            yield text

    def delete(self) -> None:
        self.path.unlink(missing_ok=True)


def intake_upload_claim(*, session, user, token: str) -> ClaimedUpload | None:
    """The upload behind ``token`` if this session kept it for this user, not expired and
    not yet claimed; None otherwise. The caller deletes it when done."""
    pending = _pending(session)
    entry = pending.pop(token, None) if TOKEN.fullmatch(token or "") else None
    session[SESSION_KEY] = pending
    if entry is None or entry["user"] != user.pk:
        return None
    stored = _dir() / f"{token}{SUFFIX}"
    claimed = _dir() / f"{token}{CLAIMED}-{secrets.token_hex(8)}"
    try:
        os.rename(stored, claimed)  # atomic: a second confirm finds nothing
    except FileNotFoundError:
        return None
    return ClaimedUpload(claimed, entry["file_name"], entry["options"])


def intake_uploads_purge(*, older_than_seconds: int | None = None) -> int:
    """Deletes stored uploads older than the TTL (abandoned previews, and files left by a
    confirm that died); returns how many."""
    directory = _dir()
    if not directory.is_dir():
        return 0
    cutoff = time.time() - (_ttl_seconds() if older_than_seconds is None else older_than_seconds)
    removed = 0
    for path in directory.iterdir():
        name = path.name
        if not (name.endswith(SUFFIX) or CLAIMED in name):
            continue  # not ours
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue  # claimed or purged meanwhile
    return removed
