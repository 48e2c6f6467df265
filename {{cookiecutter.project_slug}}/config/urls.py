from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from {{ cookiecutter.project_slug }}.api.views import (
    APIDocsView,
    APISchemaView,
    HealthView,
    IndexView,
)

admin.site.site_header = f"{settings.PROJECT_NAME} administration"
admin.site.site_title = settings.PROJECT_NAME

urlpatterns = [
    path("", IndexView.as_view(), name="index"),
    path("healthz/", HealthView.as_view(), name="healthz"),
    path("api/v1/", include("{{ cookiecutter.project_slug }}.api.urls", namespace="v1")),
    path("api/schema/", APISchemaView.as_view(), name="schema"),
    path("api/docs/", APIDocsView.as_view(url_name="schema"), name="api-docs"),
    path(settings.ADMIN_URL, admin.site.urls),
]

handler400 = "{{ cookiecutter.project_slug }}.api.views.bad_request"
handler404 = "{{ cookiecutter.project_slug }}.api.views.not_found"
handler500 = "{{ cookiecutter.project_slug }}.api.views.server_error"
