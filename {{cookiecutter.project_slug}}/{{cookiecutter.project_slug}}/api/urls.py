from django.urls import path

from ..api_keys.secret_scanning import ReportView
from .views import APIKeyListView, APIKeyRotateView, APIKeyUsageView, APIKeyView, WhoAmIView

app_name = "api"

urlpatterns = [
    path("whoami/", WhoAmIView.as_view(), name="whoami"),
    path("keys/", APIKeyListView.as_view(), name="keys"),
    path("keys/<str:lookup_id>/", APIKeyView.as_view(), name="key"),
    path("keys/<str:lookup_id>/rotate/", APIKeyRotateView.as_view(), name="key-rotate"),
    path("keys/<str:lookup_id>/usage/", APIKeyUsageView.as_view(), name="key-usage"),
    path("secret-scanning/github/", ReportView.as_view(), name="secret-scanning-github"),
]
