"""Reading and checking an intake file, before anything touches the database.

The format (a header naming ``handle`` and ``followers``, optionally ``geo``; one account
per line; ``geo`` as ``US|CA``; empty lines ignored, a UTF-8 BOM and CRLF tolerated; line
numbers are the file's own), each cell's rule (``handle_clean``, ``followers_clean``,
``geos_clean``), a chunk's check (``rows_check``: duplicates, extra cells) and the pool
options (``pool_options_clean``). ``leasing.intake`` writes what passes.
"""

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from layers_ops.grammar import GrammarError, whole_number

from .models import Pool
from .validators import (
    InvalidValue,
    country_code_check,
    country_codes_parse,
    language_tag_check,
    tags_parse,
)

COLUMNS = ("handle", "followers", "geo")
REQUIRED_COLUMNS = ("handle", "followers")
HANDLE = re.compile(r"[a-z0-9_.]{2,24}")
FOLLOWERS_MAX = 2_147_483_647  # PositiveIntegerField on every database
SHOWN_CHARS = 60  # a refused cell is quoted at most this long in reports


class IntakeError(Exception):
    """The file or the options cannot be imported at all; nothing was changed."""


@dataclass(frozen=True)
class IntakeRow:
    line: int
    handle: str
    followers: str
    geo: str = ""
    extra_cells: bool = False


@dataclass(frozen=True)
class Refusal:
    line: int
    handle: str
    reason: str


# Reading the file ------------------------------------------------------------------------


def rows_read(text: str) -> list[IntakeRow]:
    """The rows of a CSV text (see ``rows_iter``), all at once: for small files and tests."""
    return list(rows_iter(io.StringIO(text, newline="")))


def rows_iter(lines: Iterable[str]) -> Iterator[IntakeRow]:
    """The rows of a CSV read line by line (a text file opened with ``newline=""``), with
    their line numbers; the header is checked here. Raises ``IntakeError`` for a file that
    is not CSV, not UTF-8 or has no proper header, when the iteration reaches it."""
    reader = csv.reader(lines)
    index = None
    try:
        for record in reader:
            if index is None and record and record[0].startswith("\ufeff"):
                record[0] = record[0][1:]
            if not any(cell.strip() for cell in record):
                continue
            if index is None:
                index = _header_index(record)
                continue
            cells = {
                name: record[i].strip() if i < len(record) else "" for name, i in index.items()
            }
            yield IntakeRow(
                line=reader.line_num,
                handle=cells["handle"],
                followers=cells["followers"],
                geo=cells.get("geo", ""),
                extra_cells=any(cell.strip() for cell in record[len(index) :]),
            )
    except csv.Error as exc:
        raise IntakeError(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from None
    except UnicodeDecodeError:
        raise IntakeError(
            f"The file is not UTF-8 text (after line {reader.line_num}): save it as CSV UTF-8."
        ) from None
    if index is None:
        raise IntakeError("The file is empty: it needs a header row, handle,followers[,geo].")


def shown(raw: str, limit: int = SHOWN_CHARS) -> str:
    """A cell as reports show and store it: NUL (which PostgreSQL text cannot hold) as
    U+FFFD, and at most ``limit`` characters."""
    text = raw.replace("\x00", "\ufffd")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _header_index(record: list[str]) -> dict[str, int]:
    names = [cell.strip().lower() for cell in record]
    while names and not names[-1]:
        names.pop()
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise IntakeError(
            "The first line must be a header naming the columns handle,followers[,geo]; "
            f"it reads {shown(','.join(record), 200)!r}."
        )
    unknown = [name for name in names if name not in COLUMNS]
    if unknown:
        raise IntakeError(
            f"Unknown column(s) {', '.join(repr(shown(n)) for n in unknown[:5])}: the columns are "
            "handle, followers and geo."
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise IntakeError(f"Column(s) named twice: {', '.join(shown(n) for n in repeated)}.")
    return {name: i for i, name in enumerate(names)}


# Checking one row --------------------------------------------------------------------


class RowRefused(Exception):
    pass


def handle_clean(raw: str) -> str:
    handle = raw.strip()
    if handle.startswith("@"):
        handle = handle[1:]
    if not handle:
        raise RowRefused("missing handle")
    handle = handle.lower()
    if not HANDLE.fullmatch(handle):
        raise RowRefused("bad handle: use 2-24 letters, digits, underscores or periods")
    return handle


def followers_clean(raw: str) -> int:
    if not raw:
        raise RowRefused("missing followers")
    if len(raw.lstrip("+-").lstrip("0")) > len(str(FOLLOWERS_MAX)):
        # before int(): Python refuses to convert more than 4,300 digits
        raise RowRefused(f"followers too large ({shown(raw)})")
    try:
        followers = whole_number(raw, signed=True)
    except GrammarError:
        raise RowRefused(
            f"followers must be a whole number (digits 0-9, no leading zeros), not {shown(raw)!r}"
        ) from None
    if followers < 0:
        raise RowRefused(f"followers cannot be negative ({raw})")
    if followers > FOLLOWERS_MAX:
        raise RowRefused(f"followers too large ({raw})")
    return followers


def geos_clean(raw: str) -> list[str]:
    codes, unknown = [], []
    for part in raw.split("|"):
        part = part.strip()
        if not part:
            continue
        try:
            codes.append(country_code_check(part))
        except InvalidValue:
            unknown.append(shown(part))
    if unknown:
        names = ", ".join(repr(code) for code in unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise RowRefused(f"unknown country code{'s' if len(unknown) > 1 else ''} {names}")
    return list(dict.fromkeys(codes))


@dataclass(frozen=True)
class CleanRow:
    row: IntakeRow
    handle: str
    followers: int
    geos: list[str]


def rows_check(
    rows: list[IntakeRow], first_line: dict[str, int]
) -> tuple[list[CleanRow], list[Refusal]]:
    """Checks a chunk of rows; ``first_line`` holds every handle seen so far in the file."""
    clean, refused = [], []
    for row in rows:
        try:
            if row.extra_cells:
                raise RowRefused("more cells than the header names")
            handle = handle_clean(row.handle)
            if handle in first_line:
                raise RowRefused(f"duplicate handle: already on line {first_line[handle]}")
            first_line[handle] = row.line
            clean.append(CleanRow(row, handle, followers_clean(row.followers), geos_clean(row.geo)))
        except RowRefused as refusal:
            refused.append(Refusal(row.line, shown(row.handle), str(refusal)))
    return clean, refused


@dataclass(frozen=True)
class PoolOptions:
    name: str
    verticals: list[str] | None
    language: str | None
    geos: list[str] | None


def pool_options_clean(
    *, pool_name: str, verticals=None, language: str | None = None, geos=None
) -> PoolOptions:
    """Pool name and, when given, verticals, language and geos, checked and normalised.
    ``verticals`` and ``geos`` may be text (``"coffee, food"``, ``"US CA"``) or lists."""
    name = " ".join((pool_name or "").split())
    if not name:
        raise IntakeError("Name the pool the accounts go into.")
    if len(name) > Pool._meta.get_field("name").max_length:
        raise IntakeError("A pool name is at most 120 characters.")
    try:
        if verticals is not None:
            verticals = tags_parse(verticals if isinstance(verticals, str) else ",".join(verticals))
        if language:
            language = language_tag_check(language.strip())
        if geos is not None:
            geos = country_codes_parse(geos if isinstance(geos, str) else " ".join(geos))
    except InvalidValue as exc:
        raise IntakeError(str(exc)) from None
    return PoolOptions(name, verticals or None, language or None, geos)
