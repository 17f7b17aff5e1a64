from django import template

from billing.money import dollars

register = template.Library()


@register.filter
def usd(cents):
    """Integer cents as dollars: 150000 -> $1,500.00, -2500 -> -$25.00."""
    if cents is None or cents == "":
        return ""
    return dollars(int(cents))
