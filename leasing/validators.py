"""The rules for niche values, shared by the partner API, the ops admin and CSV intake.

Each check returns the normalised value or raises ``InvalidValue`` with a message that is
safe to show to a partner or to staff. Callers turn it into their own error shape.
"""

import re
from functools import lru_cache

import langcodes
import pycountry

from .models import NOTE_MAX_LENGTH


class InvalidValue(ValueError):
    pass


# RFC 5646 section 2.1 "langtag" / "privateuse" / "grandfathered", case-insensitive.
_LANGTAG = re.compile(
    r"""
    (?:[a-z]{2,3}(?:-[a-z]{3}){0,3}|[a-z]{4}|[a-z]{5,8})   # language, extlangs
    (?:-[a-z]{4})?                                          # script
    (?:-(?:[a-z]{2}|[0-9]{3}))?                             # region
    (?:-(?:[a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*                # variants
    (?:-[a-wyz0-9](?:-[a-z0-9]{2,8})+)*                     # extensions
    (?:-x(?:-[a-z0-9]{1,8})+)?                              # private use
    |x(?:-[a-z0-9]{1,8})+
    |en-gb-oed|i-(?:ami|bnn|default|enochian|hak|klingon|lux|mingo|navajo|pwn|tao|tay|tsu)
    |sgn-(?:be-fr|be-nl|ch-de)|art-lojban|cel-gaulish|no-(?:bok|nyn)
    |zh-(?:guoyu|hakka|min|min-nan|xiang)
    """,
    re.IGNORECASE | re.VERBOSE,
)

LANGUAGE_MALFORMED = "'{value}' is not a well-formed BCP-47 language tag (e.g. en, pt-BR)."
LANGUAGE_UNKNOWN = "'{value}' is well-formed but not a registered BCP-47 language tag."
COUNTRY_UNKNOWN = "'{value}' is not an ISO 3166-1 alpha-2 country code."


def language_tag_check(value: str) -> str:
    """A BCP-47 tag: well-formed (``en_US`` is not) and made of registered subtags
    (``english`` is well-formed but names no language, so no pool could ever match it)."""
    if not _LANGTAG.fullmatch(value):
        raise InvalidValue(LANGUAGE_MALFORMED.format(value=value))
    if not langcodes.tag_is_valid(value):
        raise InvalidValue(LANGUAGE_UNKNOWN.format(value=value))
    return value


@lru_cache(maxsize=512)
def _is_country(code: str) -> bool:
    return len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None


def country_code_check(value: str) -> str:
    """An ISO 3166-1 alpha-2 code, upper-cased: ``us`` -> ``US``."""
    code = value.upper()
    if not _is_country(code):
        raise InvalidValue(COUNTRY_UNKNOWN.format(value=value))
    return code


_LIST_SEPARATORS = re.compile(r"[\s,;|]+")


def _split(text: str) -> list[str]:
    return [part for part in _LIST_SEPARATORS.split(text or "") if part]


def _unique(values) -> list[str]:
    return list(dict.fromkeys(values))


def country_codes_parse(text: str) -> list[str]:
    """``"us, CA gb"`` -> ``["US", "CA", "GB"]``; every unknown code is named."""
    codes, unknown = [], []
    for part in _split(text):
        try:
            codes.append(country_code_check(part))
        except InvalidValue:
            unknown.append(part)
    if unknown:
        names = ", ".join(f"'{part}'" for part in unknown)
        raise InvalidValue(f"Not ISO 3166-1 alpha-2 country codes: {names}.")
    return _unique(codes)


TAG_MAX_LENGTH = 50


def vertical_key(value: str) -> str:
    """What a vertical is matched on: trimmed, inner whitespace collapsed to one space,
    case-folded. ``" Mobile  GAMES"``, ``"mobile games"`` -> ``"mobile games"``;
    ``"Straße"`` -> ``"strasse"``. Pool tags are stored this way; a request keeps the
    partner's spelling and stores this key beside it (``LeaseRequest.vertical_key``)."""
    return " ".join(str(value).split()).casefold()


def tags_parse(text: str) -> list[str]:
    """Verticals: ``"Coffee, food "`` -> ``["coffee", "food"]``. Separated by commas (a
    vertical may hold spaces: ``"mobile games"``); each one a ``vertical_key``,
    de-duplicated."""
    tags = _unique(vertical_key(part) for part in (text or "").split(","))
    tags = [tag for tag in tags if tag]
    too_long = [tag for tag in tags if len(tag) > TAG_MAX_LENGTH]
    if too_long:
        raise InvalidValue(f"A vertical is at most {TAG_MAX_LENGTH} characters: {too_long[0]!r}.")
    return tags


def list_display_text(values, separator: str = ", ") -> str:
    """A stored list as a person reads it: ``["US", "CA"]`` -> ``US, CA``."""
    return separator.join(str(value) for value in values or [])


def note_body_clean(text: str) -> str:
    """A note as it is stored: line ends as ``\\n`` (a browser sends ``\\r\\n``, which the
    box itself counts as one character), trimmed, non-empty and at most
    ``NOTE_MAX_LENGTH`` characters. Never cut: an over-long note is refused with its
    length, so whoever wrote it can shorten it themselves."""
    body = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not body:
        raise InvalidValue("A note needs text.")
    if len(body) > NOTE_MAX_LENGTH:
        raise InvalidValue(f"Note is {len(body):,} characters; the limit is {NOTE_MAX_LENGTH:,}.")
    return body
