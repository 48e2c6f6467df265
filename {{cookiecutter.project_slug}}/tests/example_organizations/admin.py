from django.contrib import admin

from {{ cookiecutter.project_slug }}.api_keys.admin import APIKeyModelAdmin

from .models import Organization, OrganizationAPIKey

admin.site.register(Organization)


@admin.register(OrganizationAPIKey)
class OrganizationAPIKeyModelAdmin(APIKeyModelAdmin):
    list_display = (*APIKeyModelAdmin.list_display, "organization__name")
    search_fields = (*APIKeyModelAdmin.search_fields, "organization__name")
