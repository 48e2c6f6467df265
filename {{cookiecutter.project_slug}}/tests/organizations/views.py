from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .permissions import HasOrganizationAPIKey, OrganizationAPIKeyAuthentication


class OrganizationView(APIView):
    """GET: the organisation of the calling key."""

    authentication_classes = [OrganizationAPIKeyAuthentication]
    permission_classes = [HasOrganizationAPIKey]

    def get(self, request: Request) -> Response:
        return Response({"organization": request.auth.organization.name})
