from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from layers_ops.admin_display import NothingChangedMixin, local_day, local_time, short_id

from .models import ApiKey, KeyEnvironment, Organization, Project, RateLimitTier, Scope
from .services import DEFAULT_SCOPES, api_key_create, api_key_revoke


class ProjectInline(admin.TabularInline):
    model = Project
    extra = 0
    fields = ["id", "name", "created_at"]
    readonly_fields = ["id", "created_at"]
    show_change_link = True


@admin.register(Organization)
class OrganizationAdmin(NothingChangedMixin, admin.ModelAdmin):
    list_display = ["name", "organization_id", "environment", "created_on"]
    list_filter = ["environment"]
    search_fields = ["name", "id"]
    readonly_fields = ["id", "environment", "live_organization", "created_at"]
    inlines = [ProjectInline]

    @admin.display(description="id", ordering="id")
    def organization_id(self, obj):
        return short_id(obj.pk)

    @admin.display(description="created", ordering="created_at")
    def created_on(self, obj):
        return local_day(obj.created_at)


@admin.register(Project)
class ProjectAdmin(NothingChangedMixin, admin.ModelAdmin):
    list_display = ["name", "project_id", "organization", "created_on"]
    list_select_related = ["organization"]
    list_filter = ["organization"]
    search_fields = ["name", "id", "organization__name"]
    readonly_fields = ["id", "created_at"]
    autocomplete_fields = ["organization"]

    def get_readonly_fields(self, request, obj=None):
        # A project never moves: its leases and requests belong to its organization.
        return [*self.readonly_fields, "organization"] if obj else self.readonly_fields

    @admin.display(description="id", ordering="id")
    def project_id(self, obj):
        return short_id(obj.pk)

    @admin.display(description="created", ordering="created_at")
    def created_on(self, obj):
        return local_day(obj.created_at)


class ApiKeyCreateForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        initial=list(DEFAULT_SCOPES),
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = ApiKey
        fields = ["organization", "name", "environment", "scopes", "rate_limit_tier"]


@admin.register(ApiKey)
class ApiKeyAdmin(NothingChangedMixin, admin.ModelAdmin):
    list_display = ["name", "key_id", "organization", "mode", "scope_list", "state", "last_used"]
    list_select_related = ["organization"]
    list_filter = ["environment", "rate_limit_tier", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "id", "organization__name"]
    autocomplete_fields = ["organization"]
    actions = ["revoke_keys"]
    readonly_fields = [
        "id",
        "organization",
        "environment",
        "scopes",
        "rate_limit_tier",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = ApiKeyCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def get_fields(self, request, obj=None):
        if obj is None:
            return ApiKeyCreateForm.Meta.fields
        return ["name", *self.readonly_fields]

    def get_changeform_initial_data(self, request):
        return {
            "environment": KeyEnvironment.LIVE,
            "rate_limit_tier": RateLimitTier.STANDARD,
            **super().get_changeform_initial_data(request),
        }

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: keys stay for the audit trail

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        issued = api_key_create(
            organization=form.cleaned_data["organization"],
            name=form.cleaned_data["name"],
            scopes=form.cleaned_data["scopes"],
            rate_limit_tier=form.cleaned_data["rate_limit_tier"],
            environment=form.cleaned_data["environment"],
        )
        # The admin goes on to log and redirect with ``obj``: make it the saved key.
        obj.__dict__.update(
            {k: v for k, v in issued.api_key.__dict__.items() if not k.startswith("_")}
        )
        obj._state.adding = False
        self.message_user(
            request,
            format_html("Copy this key now; it is not shown again: <code>{}</code>", issued.token),
            messages.WARNING,
        )
        owner = issued.api_key.organization
        if owner.is_test:
            self.message_user(
                request,
                format_html(
                    "A test key: it belongs to {} ({}), the test-mode twin, with its sandbox "
                    "wallet and projects {}.",
                    owner.name,
                    owner.pk,
                    ", ".join(f"{p.name} = {p.pk}" for p in owner.projects.order_by("name")),
                ),
                messages.INFO,
            )

    def save_related(self, request, form, formsets, change):
        pass  # API keys have no relations edited here

    @admin.display(description="key", ordering="id")
    def key_id(self, obj):
        url = reverse("admin:partners_apikey_change", args=[obj.pk])
        return short_id(obj.pk, url)

    @admin.display(description="mode · tier", ordering="environment")
    def mode(self, obj):
        return format_html(
            '{}<br><span class="quiet">{}</span>',
            obj.get_environment_display(),
            obj.get_rate_limit_tier_display(),
        )

    @admin.display(description="scopes")
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    @admin.display(description="state", ordering="revoked_at")
    def state(self, obj):
        if obj.revoked_at:
            return format_html(
                'revoked<br><small class="nowrap">{}</small>', local_day(obj.revoked_at)
            )
        return format_html(
            'active<br><small class="nowrap">since {}</small>', local_day(obj.created_at)
        )

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, obj):
        return local_time(obj.last_used_at) if obj.last_used_at else "never"

    @admin.action(
        description="Revoke selected keys (they stop working at once)", permissions=["change"]
    )
    def revoke_keys(self, request, queryset):
        revoked = 0
        for api_key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(api_key=api_key)
            self.log_change(request, api_key, "Revoked")
            revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).", messages.SUCCESS)
