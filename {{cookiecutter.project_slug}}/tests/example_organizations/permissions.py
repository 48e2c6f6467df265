from {{ cookiecutter.project_slug }}.api_keys.permissions import BaseHasAPIKey

from .models import OrganizationAPIKey


class HasOrganizationAPIKey(BaseHasAPIKey):
    model = OrganizationAPIKey
