"""``{% once_field %}``: the hidden one-time token of a form that changes something
(``layers_ops.staff.once``). Put it inside every such <form>; ``{% once_field token %}``
carries a token already drawn on to the next page of the same form."""

from django import template
from django.utils.html import format_html

from ..once import ONCE_FIELD, once_mint

register = template.Library()


@register.simple_tag(takes_context=True)
def once_field(context, carried=""):
    """A fresh token, or ``carried`` (the token the form was drawn with) on a page that
    continues one rendering, such as a confirmation before the change."""
    return format_html(
        '<input type="hidden" name="{}" value="{}">',
        ONCE_FIELD,
        carried or once_mint(user=context["request"].user),
    )
