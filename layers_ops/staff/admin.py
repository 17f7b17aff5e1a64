"""The door's record and its locks, for superusers only: who signed in, failed, was
locked out or unlocked, and who enrolled a second factor, with time and address."""

from django.conf import settings
from django.contrib import admin, messages
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from layers_ops.admin_display import ReadOnlyMixin

from .models import Lockout, SignInEvent
from .services import staff_unlock


class SuperuserOnly(ReadOnlyMixin, admin.ModelAdmin):
    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)


@admin.register(SignInEvent)
class SignInEventAdmin(SuperuserOnly):
    list_display = ["at", "kind", "username", "ip_address", "actor", "detail"]
    list_filter = ["kind", "at"]
    search_fields = ["username", "ip_address", "actor"]
    date_hierarchy = None
    list_per_page = 100


@admin.register(Lockout)
class LockoutAdmin(SuperuserOnly):
    """Failed sign-ins counting toward a lockout, per (username, address)."""

    list_display = ["username", "ip_address", "failures_since_start", "locked", "attempt_time"]
    search_fields = ["username", "ip_address"]
    actions = ["unlock"]
    ordering = ["-attempt_time"]

    @admin.display(boolean=True, description="locked")
    def locked(self, obj):
        return obj.failures_since_start >= settings.AXES_FAILURE_LIMIT

    @admin.action(description="Unlock the selected usernames")
    def unlock(self, request, queryset):
        usernames = sorted({attempt.username for attempt in queryset if attempt.username})
        for username in usernames:
            staff_unlock(username=username, actor=request.user.get_username())
        messages.success(request, f"Unlocked: {', '.join(usernames) or 'nobody'}.")


# Factors are enrolled by their owner and replaced with `create_staff --new-link`, never
# edited by someone else: django-otp's own device pages would let an admin add one.
for model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)
