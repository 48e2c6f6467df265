from django.contrib import admin

from {{ cookiecutter.project_slug }}.api_keys.admin import APIKeyModelAdmin

from .models import Organization, OrganizationAPIKey

admin.site.register(Organization)
admin.site.register(OrganizationAPIKey, APIKeyModelAdmin)
