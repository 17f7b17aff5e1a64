from django.urls import path

from . import views

urlpatterns = [
    path(
        "projects/<str:project_id>/leased-accounts/request",
        views.LeaseRequestCreateView.as_view(),
        name="lease-request-create",
    ),
    path(
        "projects/<str:project_id>/leased-accounts/requests",
        views.LeaseRequestListView.as_view(),
        name="lease-request-list",
    ),
    path(
        "projects/<str:project_id>/leased-accounts/requests/<str:request_id>",
        views.LeaseRequestDetailView.as_view(),
        name="lease-request-detail",
    ),
    path(
        "projects/<str:project_id>/leased-accounts",
        views.LeasedAccountListView.as_view(),
        name="leased-account-list",
    ),
    path(
        "leased-accounts/requests/<str:request_id>",
        views.OrgLeaseRequestDetailView.as_view(),
        name="org-lease-request-detail",
    ),
    path("leased-accounts", views.OrgLeasedAccountListView.as_view(), name="org-leased-accounts"),
]
