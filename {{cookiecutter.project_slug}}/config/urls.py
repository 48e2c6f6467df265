from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from {{ cookiecutter.project_slug }}.api.views import APIDocsView, HealthView

admin.site.site_header = f"{settings.PROJECT_NAME} administration"
admin.site.site_title = settings.PROJECT_NAME

urlpatterns = [
    path("healthz/", HealthView.as_view(), name="healthz"),
    path("api/v1/", include("{{ cookiecutter.project_slug }}.api.urls", namespace="v1")),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(authentication_classes=[], permission_classes=[AllowAny]),
        name="schema",
    ),
    path("api/docs/", APIDocsView.as_view(url_name="schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]

handler404 = "{{ cookiecutter.project_slug }}.api.views.not_found"
handler500 = "{{ cookiecutter.project_slug }}.api.views.server_error"
