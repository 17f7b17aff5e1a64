"""``{% load admin_display %}``: the console's display helpers in templates."""

from django import template

from layers_ops import admin_display

register = template.Library()


@register.filter
def short_id(value, url=None):
    """``{{ txn.pk|short_id }}``: head…tail, the full id on hover, a copy button."""
    return admin_display.short_id(value, url)


@register.filter
def local_time(moment):
    """``{{ entry.created_at|local_time }}``: ``2026-11-30 09:15`` (Los Angeles)."""
    return admin_display.local_time(moment)


@register.filter
def local_day(moment):
    return admin_display.local_day(moment)
