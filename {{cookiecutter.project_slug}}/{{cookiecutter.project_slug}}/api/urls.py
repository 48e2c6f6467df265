from django.urls import path

from .views import APIKeyListView, APIKeyUsageView, WhoAmIView

app_name = "api"

urlpatterns = [
    path("whoami/", WhoAmIView.as_view(), name="whoami"),
    path("keys/", APIKeyListView.as_view(), name="keys"),
    path("keys/<str:lookup_id>/usage/", APIKeyUsageView.as_view(), name="key-usage"),
]
