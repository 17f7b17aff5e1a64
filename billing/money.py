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
