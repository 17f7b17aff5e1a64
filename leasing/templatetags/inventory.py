"""Numbers and lists as ops read them on the inventory pages."""

from django import template

from ..validators import list_display_text

register = template.Library()


@register.filter
def thousands(value) -> str:
    """12400 -> "12,400"."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return ""


@register.filter
def listing(values, separator: str = ", ") -> str:
    """["US", "CA"] -> "US, CA"; empty -> "-"."""
    return list_display_text(values, separator) or "-"
