from django.urls import path, register_converter

from layers_ops.api.converters import PublicIdConverter, SocialAccountIdConverter

from . import views

register_converter(PublicIdConverter, "public_id")
register_converter(SocialAccountIdConverter, "social_account_id")

urlpatterns = [
    path(
        "projects/<public_id:project_id>/leased-accounts/request",
        views.LeaseRequestCreateView.as_view(),
        name="lease-request-create",
    ),
    path(
        "projects/<public_id:project_id>/leased-accounts/requests",
        views.LeaseRequestListView.as_view(),
        name="lease-request-list",
    ),
    path(
        "projects/<public_id:project_id>/leased-accounts/requests/<public_id:request_id>",
        views.LeaseRequestDetailView.as_view(),
        name="lease-request-detail",
    ),
    path(
        "projects/<public_id:project_id>/leased-accounts/requests/<public_id:request_id>/cancel",
        views.LeaseRequestCancelView.as_view(),
        name="lease-request-cancel",
    ),
    path(
        "projects/<public_id:project_id>/leased-accounts",
        views.LeasedAccountListView.as_view(),
        name="leased-account-list",
    ),
    path(
        "leased-accounts/requests/<public_id:request_id>",
        views.OrgLeaseRequestDetailView.as_view(),
        name="org-lease-request-detail",
    ),
    path("leased-accounts", views.OrgLeasedAccountListView.as_view(), name="org-leased-accounts"),
    path(
        "leased-accounts/<social_account_id:social_account_id>",
        views.LeasedAccountReleaseView.as_view(),
        name="leased-account-release",
    ),
]
