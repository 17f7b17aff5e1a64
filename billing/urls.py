from django.urls import path

from . import views

urlpatterns = [
    path("wallet", views.WalletView.as_view(), name="wallet"),
    path("wallet/ledger", views.WalletLedgerView.as_view(), name="wallet-ledger"),
    path(
        "wallet/statements/<str:month>",
        views.WalletStatementView.as_view(),
        name="wallet-statement",
    ),
]
