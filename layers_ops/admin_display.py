"""How the consoles show things a person reads: ids, times and lists, one way everywhere.

- ``short_id``: a long id cut to its head and tail (``lreq_01M8…KYAR``), the whole id on
  hover and a copy button (the small script in ``admin/base_site.html``), so id columns
  stay narrow and nothing needs sideways scrolling at 1366 px.
- ``local_time`` / ``local_day``: the one date format, ``2026-11-30 09:15`` in the
  console's time zone (America/Los_Angeles).
- ``NothingChangedMixin``: "Save" on a page where nothing was changed says so, instead of
  "was changed successfully".
- ``permission_denied``: the 403 page of admin paths, in the admin's own look.
"""

from django.contrib import admin, messages
from django.contrib.admin.templatetags.admin_urls import add_preserved_filters
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import ChangeList
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.views import defaults

SHORT_ID_KEEP = 16  # ids up to this length are shown whole
# Two overlapping sheets: drawn inline, so no icon font or CDN is needed.
_COPY_ICON = (
    '<svg width="12" height="12" viewBox="0 0 12 12" aria-hidden="true" fill="none" '
    'stroke="currentColor" stroke-width="1.2"><rect x="3.5" y="0.6" width="7.9" '
    'height="7.9" rx="1"/><path d="M2 3.5H1.6a1 1 0 0 0-1 1v6a1 1 0 0 0 1 1h6a1 1 0 0 0 '
    '1-1V10"/></svg>'
)


def short_id(value, url: str | None = None):
    """``value`` as a narrow cell: the first and last characters (a ULID's prefix and
    first four, then its last four), the full id as the tooltip and a copy button.
    ``url`` makes the shown part a link."""
    full = str(value or "")
    if not full:
        return "—"
    if len(full) <= SHORT_ID_KEEP:
        shown = full
    else:
        prefix, _, rest = full.partition("_")
        head = f"{prefix}_{rest[:4]}" if rest and len(prefix) <= 5 else full[:9]
        shown = f"{head}…{full[-4:]}"
    text = format_html('<a href="{}">{}</a>', url, shown) if url else shown
    return format_html(
        '<span class="short-id" title="{}">{}<button type="button" class="copy-id" '
        'data-copy="{}" title="Copy {}" aria-label="Copy the id {}">{}</button></span>',
        full,
        text,
        full,
        full,
        full,
        mark_safe(_COPY_ICON),
    )


class RowLinksChangeList(ChangeList):
    """Gives each row on the page its ``row_url``: its change page with the list's
    filters kept (as Django's own row links do), for a column that draws its own link
    beside a copy button (``short_id(obj.pk, row_url(obj, ...))``)."""

    def get_results(self, request):
        super().get_results(request)
        self.result_list = list(self.result_list)
        context = {"preserved_filters": self.preserved_filters, "opts": self.opts}
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_change"
        for result in self.result_list:
            url = reverse(
                name, args=[quote(result.pk)], current_app=self.model_admin.admin_site.name
            )
            result.row_url = add_preserved_filters(context, url)


def row_url(obj, fallback: str) -> str:
    """The row's change page with the list's filters, else ``fallback``."""
    return getattr(obj, "row_url", None) or fallback


def local_time(moment) -> str:
    """The one date-and-time format: ``2026-11-30 09:15`` in the console's time zone."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


def local_day(moment) -> str:
    """The one date format: ``2026-11-30`` (the day in the console's time zone)."""
    return timezone.localtime(moment).strftime("%Y-%m-%d") if moment else "—"


class NothingChangedMixin(admin.ModelAdmin):
    """ "Save" with nothing changed records nothing and says so."""

    def construct_change_message(self, request, form, formsets, add=False):
        message = super().construct_change_message(request, form, formsets, add)
        request._nothing_changed = not add and not message
        return message

    def log_change(self, request, obj, message):
        if getattr(request, "_nothing_changed", False):
            return None  # no history line for a save that changed nothing
        return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        if not getattr(request, "_nothing_changed", False):
            return super().response_change(request, obj)
        self.message_user(request, f"Nothing changed: {obj} was left as it was.", messages.INFO)
        if "_continue" in request.POST:
            return HttpResponseRedirect(request.path)
        return self.response_post_save_change(request, obj)


def permission_denied(request, exception=None):
    """A refusal on an admin page looks like the admin (header, who is signed in, the way
    home); elsewhere Django's own page."""
    if request.path.startswith("/admin/") and getattr(request, "user", None) is not None:
        context = {
            **admin.site.each_context(request),
            "title": "Not allowed",
            "reason": str(exception) if exception and str(exception) else "",
        }
        return TemplateResponse(request, "admin/403.html", context, status=403)
    return defaults.permission_denied(request, exception)


class ReadOnlyMixin:
    """History must not change: no add, change or delete through this admin or inline,
    whoever asks (superusers included). Mixed into ModelAdmins and inlines alike."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
