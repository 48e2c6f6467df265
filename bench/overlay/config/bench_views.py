"""The two views the benchmark adds beside /api/v1/whoami/, answering the same JSON shape.

- OpenWhoAmIView: no key check at all, the baseline.
- PackageWhoAmIView: guarded by djangorestframework-api-key's HasAPIKey instead of this
  project's key app.
"""

from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey as PackageHasAPIKey

# The fields of whoami's answer with values of the same length as the first key's
# ("first key", a 12-character lookup id, a timestamp with microseconds, no expiry).
# run.py compares the body sizes and says so if they differ.
CONSTANT_BODY = {
    "name": "first key",
    "lookup_id": "000000000000",
    "created": "2025-01-01T00:00:00.000000Z",
    "expires": None,
}


class OpenWhoAmIView(APIView):
    """whoami with no key check: the cost of the DRF stack alone."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(dict(CONSTANT_BODY))


class PackageWhoAmIView(APIView):
    """whoami guarded by djangorestframework-api-key 3.1.0, as its documentation wires it.

    Its HasAPIKey does not hand the key object to the view; getting it would cost a second
    query, so this view answers the constant body, which favours the package.
    """

    authentication_classes = []
    permission_classes = [PackageHasAPIKey]

    def get(self, request: Request) -> Response:
        return Response(dict(CONSTANT_BODY))
