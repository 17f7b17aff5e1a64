"""The "Test data" switch of the admin lists that hold partner data (wallets, the
request queue, leases): live data by default, test-mode data (``lp_test_`` keys' twin
organizations) when asked for, or both."""

from django.contrib import admin

from .models import KeyEnvironment


class TestDataFilter(admin.SimpleListFilter):
    """Live by default. ``organization_path`` names the organization of the listed row."""

    title = "test data"
    parameter_name = "data"
    organization_path = "organization"
    TEST, BOTH = "test", "both"

    def lookups(self, request, model_admin):
        return [
            (None, "Live only"),
            (self.TEST, "Test data only"),
            (self.BOTH, "Live and test"),
        ]

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string(
                    {self.parameter_name: value} if value else {}, [self.parameter_name]
                ),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() == self.BOTH:
            return queryset
        environment = KeyEnvironment.TEST if self.value() == self.TEST else KeyEnvironment.LIVE
        return queryset.filter(**{f"{self.organization_path}__environment": environment})
