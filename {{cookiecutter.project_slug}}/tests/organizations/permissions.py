from {{ cookiecutter.project_slug }}.api_keys.authentication import APIKeyAuthentication
from {{ cookiecutter.project_slug }}.api_keys.permissions import BaseHasAPIKey

from .models import OrganizationAPIKey


class HasOrganizationAPIKey(BaseHasAPIKey):
    model = OrganizationAPIKey


class OrganizationAPIKeyAuthentication(APIKeyAuthentication):
    model = OrganizationAPIKey
