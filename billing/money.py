"""How money reads on every page: integer cents as US dollars."""

from decimal import Decimal


def dollars(cents: int) -> str:
    """150000 -> $1,500.00, -2500 -> -$25.00."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"


def dollars_number(cents: int) -> Decimal:
    """-15000 -> Decimal('-150.00'): dollars as a number, for CSV columns a spreadsheet sums."""
    return Decimal(cents).scaleb(-2)
