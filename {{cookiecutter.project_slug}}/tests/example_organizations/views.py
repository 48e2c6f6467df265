from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from {{ cookiecutter.project_slug }}.api_keys.permissions import request_key

from .models import OrganizationAPIKey
from .permissions import HasOrganizationAPIKey


class OrganizationView(APIView):
    """GET: the organisation of the calling key, which needs the `organization:read` scope."""

    permission_classes = [HasOrganizationAPIKey]
    required_scopes = ["organization:read"]

    def get(self, request: Request) -> Response:
        api_key = request_key(request)  # the key HasOrganizationAPIKey accepted
        if not isinstance(api_key, OrganizationAPIKey):  # a caller let in by another permission
            raise PermissionDenied("This endpoint takes an organisation's API key.")
        return Response({"organization": api_key.organization.name})
