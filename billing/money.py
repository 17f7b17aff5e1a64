"""How money reads on every page: integer cents as US dollars."""


def dollars(cents: int) -> str:
    """150000 -> $1,500.00, -2500 -> -$25.00."""
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents) / 100:,.2f}"
