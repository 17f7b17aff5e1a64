"""The warmed inventory: pools, their social accounts, state moves and CSV intake.

Lists read as a person reads them (``12,400``, ``US, CA``); state changes only through
the account actions (``account_moves_bulk``), each asking for a reason and logged; the
CSV import (preview, then confirm) lives in ``intake_admin.AccountIntakeAdminMixin``.
"""

from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join

from layers_ops.admin_display import NothingChangedMixin, ReadOnlyMixin, local_day, local_time
from layers_ops.staff.once import ONCE_FIELD, OnceRefused

from ..intake import social_account_add
from ..models import AccountEvent, AccountState, Pool, SocialAccount
from ..services.errors import LeasingError
from ..services.inventory import (
    FIXED_WHILE_LEASED,
    account_moves_bulk,
    account_moves_check,
    social_account_update,
)
from ..validators import list_display_text
from .intake_admin import AccountIntakeAdminMixin
from .inventory_forms import MoveForm, PoolForm, SocialAccountForm


def _day(moment) -> str:
    return local_day(moment) if moment else "-"


STATE_COLUMNS = [
    AccountState.WARMING,
    AccountState.READY,
    AccountState.LEASED,
    AccountState.COOLDOWN,
    AccountState.RETIRED,
]


def _count_column(state):
    @admin.display(description=AccountState(state).label.lower(), ordering=f"n_{state}")
    def column(self, pool):
        count = getattr(pool, f"n_{state}")
        if not count:
            return "0"
        url = reverse("admin:leasing_socialaccount_changelist")
        return format_html(
            '<a href="{}?pool__id__exact={}&state__exact={}">{}</a>',
            url,
            pool.pk,
            state,
            f"{count:,}",
        )

    column.__name__ = f"count_{state}"
    return column


@admin.register(Pool)
class PoolAdmin(NothingChangedMixin, admin.ModelAdmin):
    form = PoolForm
    list_display = [
        "name",
        "verticals",
        "language",
        "geo_list",
        *[f"count_{state}" for state in STATE_COLUMNS],
    ]
    search_fields = ["name", "notes"]
    fieldsets = [
        (None, {"fields": ["name", "tags", "language", "geos", "notes"]}),
        ("Accounts", {"fields": ["accounts_by_state", "created_at"]}),
    ]
    readonly_fields = ["accounts_by_state", "created_at"]

    count_warming = _count_column(AccountState.WARMING)
    count_ready = _count_column(AccountState.READY)
    count_leased = _count_column(AccountState.LEASED)
    count_cooldown = _count_column(AccountState.COOLDOWN)
    count_retired = _count_column(AccountState.RETIRED)

    def get_queryset(self, request):
        counts = {
            f"n_{state}": Count("accounts", filter=Q(accounts__state=state))
            for state in STATE_COLUMNS
        }
        return super().get_queryset(request).annotate(**counts)

    @admin.display(description="verticals")
    def verticals(self, pool):
        return list_display_text(pool.tags)

    @admin.display(description="geos")
    def geo_list(self, pool):
        return list_display_text(pool.geos)

    @admin.display(description="accounts by state")
    def accounts_by_state(self, pool):
        if pool.pk is None:
            return "-"
        url = reverse("admin:leasing_socialaccount_changelist")
        return format_html_join(
            ", ",
            '<a href="{}?pool__id__exact={}&state__exact={}">{} {}</a>',
            (
                (url, pool.pk, state, f"{getattr(pool, f'n_{state}'):,}", state)
                for state in STATE_COLUMNS
            ),
        )


def _shown(name: str, value) -> str:
    """A recorded value as the history reads it."""
    if value in (None, "", []):
        return "-"
    if name == "handle":
        return f"@{value}"
    if name == "followers":
        return f"{value:,}"
    if name == "follower_geos":
        return list_display_text(value)
    if name == "warmed_since":
        moment = parse_datetime(value)
        return _day(moment) if moment else str(value)
    return str(value)


def change_summary(changes: dict) -> str:
    """``{"followers": [1000, 2500]}`` -> ``followers 1,000 → 2,500``."""
    return "; ".join(
        f"{name.replace('_', ' ')} {_shown(name, before)} → {_shown(name, after)}"
        for name, (before, after) in changes.items()
    )


class AccountEventInline(ReadOnlyMixin, admin.TabularInline):
    """The account's history: every state move and every edit, who made it, when and
    why (and for an edit, what changed). Read-only."""

    model = AccountEvent
    fields = ["when", "what", "by", "reason"]
    readonly_fields = fields
    template = "admin/leasing/socialaccount/history_inline.html"
    extra = 0
    can_delete = False
    verbose_name = "history entry"
    verbose_name_plural = "History"
    ordering = ["-created_at", "-pk"]

    @admin.display(description="when")
    def when(self, event):
        return local_time(event.created_at)

    @admin.display(description="by")
    def by(self, event):
        return event.actor_label

    @admin.display(description="what")
    def what(self, event):
        if not event.to_state:
            return f"edited: {change_summary(event.changes)}"
        if not event.from_state:
            return f"added as {event.get_to_state_display().lower()}"
        return f"{event.get_from_state_display()} → {event.get_to_state_display()}"

    def has_view_permission(self, request, obj=None):
        # Part of the account: whoever may see the account sees its history.
        return request.user.has_perm("leasing.view_socialaccount")


# The actions: (name, target state, label, verb for messages)
MOVES = [
    ("mark_ready", AccountState.READY, "Mark ready", "marked ready"),
    ("back_to_warming", AccountState.WARMING, "Back to warming", "sent back to warming"),
    ("send_to_cooldown", AccountState.COOLDOWN, "Send to cooldown", "sent to cooldown"),
    ("retire", AccountState.RETIRED, "Retire", "retired"),
]


def _move_action(name, to_state, label, verb):
    def action(modeladmin, request, queryset):
        return modeladmin.move_view(request, queryset, name, to_state, label, verb)

    action.__name__ = name
    return admin.action(description=f"{label}…", permissions=["change"])(action)


@admin.register(SocialAccount)
class SocialAccountAdmin(AccountIntakeAdminMixin, NothingChangedMixin, admin.ModelAdmin):
    form = SocialAccountForm
    list_display = [
        "account",
        "pool",
        "state",
        "follower_count",
        "geo_list",
        "warmed",
        "in_state_since",
    ]
    list_display_links = ["account"]
    list_select_related = ["pool"]
    list_filter = ["state", "pool"]
    search_fields = ["handle", "id"]
    readonly_fields = ["id", "platform", "state", "state_changed_at", "created_at"]
    fieldsets = [
        (None, {"fields": ["handle", "platform", "id", "pool"]}),
        ("Audience", {"fields": ["followers", "follower_geos"]}),
        (
            "State",
            {
                "fields": ["state", "state_changed_at", "warmed_since", "created_at"],
                "description": "State moves only through the actions on the account list "
                "(mark ready, back to warming, send to cooldown, retire); leasing happens "
                "by allocating a request.",
            },
        ),
    ]
    inlines = [AccountEventInline]
    actions = [_move_action(*move) for move in MOVES]

    @admin.display(description="account", ordering="handle")
    def account(self, obj):
        return f"@{obj.handle}"

    @admin.display(description="followers", ordering="followers")
    def follower_count(self, obj):
        return f"{obj.followers:,}"

    @admin.display(description="follower geos")
    def geo_list(self, obj):
        return list_display_text(obj.follower_geos) or "-"

    @admin.display(description="warmed", ordering="warmed_since")
    def warmed(self, obj):
        return _day(obj.warmed_since)

    @admin.display(description="state since", ordering="state_changed_at")
    def in_state_since(self, obj):
        return _day(obj.state_changed_at)

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # adding: a new account starts warming, with no history yet
            return [(None, {"fields": ["handle", "pool", "followers", "follower_geos"]})]
        fieldsets = super().get_fieldsets(request, obj)
        if obj.state != AccountState.LEASED:
            return fieldsets
        (name, options), *rest = fieldsets
        leased = {
            **options,
            "description": "Leased to a partner, who holds it by this handle: it cannot be "
            "renamed (handle, platform) or moved to another pool until its lease ends.",
        }
        return [(name, leased), *rest]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.state == AccountState.LEASED:
            fields += [name for name in FIXED_WHILE_LEASED if name not in fields]
        if obj is not None and obj.state in (AccountState.LEASED, AccountState.RETIRED):
            fields.append("pool")  # such an account stays in its pool
        return fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def save_model(self, request, obj, form, change):
        if change:
            # Through the service: the account is re-checked under lock and every change
            # lands in its history with who made it.
            try:
                social_account_update(
                    account=obj,
                    changes={
                        name: form.cleaned_data[name]
                        for name in form.changed_data
                        if name in form.cleaned_data
                    },
                    actor=request.user,
                )
            except LeasingError as exc:
                request._account_refused = str(exc)
            return
        added = social_account_add(
            pool=obj.pool,
            handle=obj.handle,
            followers=obj.followers,
            follower_geos=obj.follower_geos,
            actor=request.user,
        )
        obj.pk = added.pk
        obj._state = added._state
        obj.state, obj.created_at = added.state, added.created_at

    def construct_change_message(self, request, form, formsets, add=False):
        if getattr(request, "_account_refused", None):
            return ""
        return super().construct_change_message(request, form, formsets, add)

    def log_change(self, request, obj, message):
        if getattr(request, "_account_refused", None):
            return None  # nothing changed
        return super().log_change(request, obj, message)

    def response_change(self, request, obj):
        refused = getattr(request, "_account_refused", None)
        if refused:
            self.message_user(request, f"Nothing was saved: {refused}", messages.ERROR)
            return HttpResponseRedirect(request.path)
        return super().response_change(request, obj)

    # State moves --------------------------------------------------------------------

    def move_view(self, request, queryset, name, to_state, label, verb):
        """The intermediate page of a move action: asks why, then moves what it can."""
        accounts = list(queryset.select_related("pool").order_by("handle"))
        form = MoveForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if form.is_bound and form.is_valid():
            try:
                outcome = account_moves_bulk(
                    accounts=accounts,
                    to_state=to_state,
                    actor=request.user,
                    reason=form.cleaned_data["reason"],
                    once=request.POST.get(ONCE_FIELD, ""),
                )
            except OnceRefused as exc:  # this page was submitted already, or is stale
                self.message_user(request, str(exc), messages.WARNING)
                return None
            self._report_moves(request, outcome, verb)
            return None  # back to the change list
        refusals = account_moves_check(accounts, to_state)
        movable = sum(1 for why in refusals.values() if not why)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{label}: {len(accounts)} account(s) selected",
            "rows": [(account, refusals[account.pk]) for account in accounts],
            "movable": movable,
            "opts": self.opts,
            "form": form,
            "accounts": accounts,
            "action_name": name,
            "label": label,
            "to_state": AccountState(to_state).label.lower(),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "media": self.media,
        }
        return TemplateResponse(request, "admin/leasing/socialaccount/move.html", context)

    def _report_moves(self, request, outcome, verb):
        if outcome.moved:
            names = ", ".join(f"@{a.handle}" for a in outcome.moved[:20])
            more = f" and {len(outcome.moved) - 20} more" if len(outcome.moved) > 20 else ""
            self.message_user(
                request,
                f"{len(outcome.moved)} account(s) {verb}: {names}{more}.",
                messages.SUCCESS,
            )
        if outcome.refused:
            details = "; ".join(f"@{r.account.handle}: {r.reason}" for r in outcome.refused[:20])
            more = f"; and {len(outcome.refused) - 20} more" if len(outcome.refused) > 20 else ""
            self.message_user(
                request,
                f"{len(outcome.refused)} account(s) could not be {verb}: {details}{more}.",
                messages.WARNING,
            )
