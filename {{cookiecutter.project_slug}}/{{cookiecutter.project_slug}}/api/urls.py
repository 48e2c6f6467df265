from django.urls import path

from .views import APIKeyListView, WhoAmIView

app_name = "api"

urlpatterns = [
    path("whoami/", WhoAmIView.as_view(), name="whoami"),
    path("keys/", APIKeyListView.as_view(), name="keys"),
]
