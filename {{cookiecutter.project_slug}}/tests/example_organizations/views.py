from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .permissions import HasOrganizationAPIKey


class OrganizationView(APIView):
    """GET: the organisation of the calling key, which needs the `organization:read` scope."""

    permission_classes = [HasOrganizationAPIKey]
    required_scopes = ["organization:read"]

    def get(self, request: Request) -> Response:
        return Response({"organization": request.auth.organization.name})
