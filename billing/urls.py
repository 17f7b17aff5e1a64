from django.urls import path

from . import views

urlpatterns = [
    path("wallet", views.WalletView.as_view(), name="wallet"),
    path("wallet/sandbox-top-up", views.SandboxTopUpView.as_view(), name="wallet-sandbox-top-up"),
    path("wallet/ledger", views.WalletLedgerView.as_view(), name="wallet-ledger"),
    path(
        "wallet/statements/<str:month>",
        views.WalletStatementView.as_view(),
        name="wallet-statement",
    ),
]
