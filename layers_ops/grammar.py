"""The one grammar for numbers and times people and machines type into the service.

Every number or time read from text (API query parameters, the admin's money and count
fields, command-line options, CSV intake) is parsed here, so ``limit``, an amount in the admin and
``top_up --cents`` refuse the same things:

* **Digits** are the ASCII ``0``-``9`` only: no full-width or other scripts' digits, no
  ``_`` or ``,`` separators, no exponent (``1e2``), no spaces, no ``+``.
* **Whole number**: ``0`` or a digit ``1``-``9`` followed by digits. **Leading zeros are
  always refused** (``01``, ``0200``): every number has one spelling and its length is
  its size. ``-`` in front only where the value may be negative.
* **Amount** (US dollars, e.g. in the admin): a whole number, then optionally ``.`` and
  one or two digits (``150``, ``150.5``, ``0.25``; not ``.5``, ``150.``, ``1.234``).
* **Timestamp**: RFC 3339 with its offset, upper-case ``T`` and ``Z``, at most six
  fractional digits (``2026-11-01T08:00:00Z``, ``2026-11-01T00:00:00.25-08:00``), or a
  date alone (``2026-11-01``: midnight UTC, or in the zone the caller names). A time
  without an offset is refused rather than guessed. Returned in UTC.

Each parser raises ``GrammarError`` with a message that completes a sentence starting
with the field's name (``"limit " + message``); each edge names the field its own way
(a 422 ``details`` entry, a form error, one line from a command).
"""

import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from django import forms

# More digits than any value here needs: refused before int() sees them.
MAX_DIGITS = 30

_WHOLE = re.compile(r"(-?)(0|[1-9][0-9]*)", re.ASCII)
_AMOUNT = re.compile(r"(-?)(0|[1-9][0-9]*)(?:\.([0-9]{1,2}))?", re.ASCII)
_DATE = r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
_TIMESTAMP = re.compile(
    _DATE + r"(?:T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?(Z|[+-][0-9]{2}:[0-9]{2}))?",
    re.ASCII,
)

DIGITS_RULE = "digits 0-9 only, without spaces, separators, exponent or leading zeros"


class GrammarError(ValueError):
    """The text breaks the grammar or the range; the message follows the field's name."""


def _length_guard(raw: str) -> None:
    if len(raw) > MAX_DIGITS + 4:
        raise GrammarError(f"is too long ({len(raw):,} characters).")


def whole_number(
    raw: str, *, minimum: int | None = None, maximum: int | None = None, signed: bool = False
) -> int:
    """A whole number in the grammar above, within ``minimum``..``maximum`` if given."""
    _length_guard(raw)
    match = _WHOLE.fullmatch(raw)
    if match is None or (match.group(1) and not signed):
        sign = "an optional '-' and " if signed else ""
        raise GrammarError(f"must be a whole number: {sign}{DIGITS_RULE}.")
    value = int(raw)
    _check_range(value, minimum, maximum)
    return value


def amount(raw: str, *, minimum: Decimal | None = None, maximum: Decimal | None = None) -> Decimal:
    """An amount of dollars with at most two decimals (``150``, ``-25.5``, ``0.25``)."""
    _length_guard(raw)
    if _AMOUNT.fullmatch(raw) is None:
        raise GrammarError(
            f"must be an amount like 150 or 150.25: an optional '-', then {DIGITS_RULE}, "
            "and at most two decimals after a '.'."
        )
    value = Decimal(raw)
    _check_range(value, minimum, maximum)
    return value


def _check_range(value, minimum, maximum) -> None:
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise GrammarError(f"must be from {minimum} to {maximum}.")
    if minimum is not None and value < minimum:
        raise GrammarError(f"must be at least {minimum}.")
    if maximum is not None and value > maximum:
        raise GrammarError(f"must be at most {maximum}.")


def timestamp(raw: str, *, date_zone=UTC) -> datetime:
    """An RFC 3339 time with its offset, or a date (midnight in ``date_zone``, UTC unless
    the caller says otherwise); returned in UTC."""
    match = _TIMESTAMP.fullmatch(raw) if len(raw) <= 40 else None
    if match is None:
        raise GrammarError(
            "must be an RFC 3339 time with its offset and at most 6 fractional digits "
            "(2026-11-01T08:00:00Z, 2026-11-01T00:00:00-08:00) or a date (2026-11-01)."
        )
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    try:
        if hour is None:
            return datetime(int(year), int(month), int(day), tzinfo=date_zone).astimezone(UTC)
        zone = UTC
        if offset != "Z":
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            if hours > 23 or minutes > 59:
                raise ValueError(offset)
            delta = timedelta(hours=hours, minutes=minutes)
            zone = timezone(-delta if offset[0] == "-" else delta)
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "").ljust(6, "0")),
            tzinfo=zone,
        )
        return moment.astimezone(UTC)
    except ValueError:
        raise GrammarError(
            "is not a real date and time (check the day, hour and offset)."
        ) from None
    except OverflowError:
        raise GrammarError("is out of range once taken to UTC.") from None


class WholeNumberField(forms.IntegerField):
    """A form's whole number in the grammar above (surrounding spaces trimmed); the
    IntegerField's own rules (``min_value``, ``max_value``) apply after it."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return whole_number(str(value).strip(), signed=True)
        except GrammarError as refused:
            raise forms.ValidationError(
                "Enter a whole number: digits 0-9 only, no leading zeros.", code="invalid"
            ) from refused


class AmountField(forms.DecimalField):
    """A form's dollar amount in the grammar above (surrounding spaces trimmed); the
    DecimalField's own rules (``max_digits``, ``min_value``...) apply after it."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return amount(str(value).strip())
        except GrammarError as refused:
            raise forms.ValidationError(
                f"Enter an amount like 150 or 150.25 ({DIGITS_RULE}).", code="invalid"
            ) from refused
