"""``{% once_field %}``: the hidden one-time token of a form that changes something
(``layers_ops.staff.once``). Put it inside every such <form>."""

from django import template
from django.utils.html import format_html

from ..once import ONCE_FIELD, once_mint

register = template.Library()


@register.simple_tag(takes_context=True)
def once_field(context):
    return format_html(
        '<input type="hidden" name="{}" value="{}">',
        ONCE_FIELD,
        once_mint(user=context["request"].user),
    )
