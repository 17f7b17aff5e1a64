"""The warmed inventory: pools and their social accounts."""

from django.contrib import admin

from ..models import Pool, SocialAccount


@admin.register(Pool)
class PoolAdmin(admin.ModelAdmin):
    list_display = ["name", "tags", "language", "geos", "created_at"]
    search_fields = ["name"]


@admin.register(SocialAccount)
class SocialAccountAdmin(admin.ModelAdmin):
    list_display = ["handle", "id", "pool", "state", "followers", "follower_geos"]
    list_select_related = ["pool"]
    list_filter = ["state", "pool"]
    search_fields = ["handle", "id"]
    readonly_fields = ["id", "platform", "created_at"]
