"""How money reads on every page: integer cents as US dollars."""

from decimal import Decimal

# The most cents a person may type (a command's option): what the admin's amount fields
# hold, 12 digits, $9,999,999,999.99.
MAX_TYPED_CENTS = 10**12 - 1


def dollars(cents: int) -> str:
    """150000 -> $1,500.00, -2500 -> -$25.00."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


def dollars_number(cents: int) -> Decimal:
    """-15000 -> Decimal('-150.00'): dollars as a number, for CSV columns a spreadsheet sums."""
    return Decimal(cents).scaleb(-2)


_ONES = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
    "eighteen", "nineteen",
]  # fmt: skip
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ["", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion"]


def _under_thousand(number: int) -> list[str]:
    words = []
    hundreds, rest = divmod(number, 100)
    if hundreds:
        words += [_ONES[hundreds], "hundred"]
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_ONES[rest])
    return words


def _number_in_words(number: int) -> str:
    if number == 0:
        return "zero"
    groups, scale = [], 0
    while number:
        number, group = divmod(number, 1000)
        if group:
            groups.insert(0, " ".join([*_under_thousand(group), _SCALES[scale]]).strip())
        scale += 1
    return " ".join(groups)


def dollars_in_words(cents: int) -> str:
    """1050000 -> 'ten thousand five hundred dollars'; 1999 -> 'nineteen dollars and
    ninety-nine cents'; -2500 -> 'minus twenty-five dollars'. What a confirmation reads
    out, so a slipped digit is seen."""
    sign = "minus " if cents < 0 else ""
    whole, part = divmod(abs(cents), 100)
    words = []
    if whole or not part:
        words.append(f"{_number_in_words(whole)} dollar{'' if whole == 1 else 's'}")
    if part:
        words.append(f"{_number_in_words(part)} cent{'' if part == 1 else 's'}")
    return sign + " and ".join(words)
