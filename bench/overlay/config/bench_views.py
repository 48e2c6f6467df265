"""The two views the benchmark adds beside /api/v1/whoami/, differing from it only in the check.

Both are the project's own whoami view (same serializer, renderer, throttles and middleware),
with its key check replaced:
- OpenWhoAmIView: no key check at all, the baseline;
- PackageWhoAmIView: djangorestframework-api-key's HasAPIKey instead of the project's key app.
Neither has the caller's key object (the package's HasAPIKey does not hand it to the view, and
fetching it would cost a second query, favouring the project), so both show a constant unsaved
key, with values as long as the first key's: run.py compares the body sizes.
"""

import importlib
from datetime import UTC, datetime

from django.conf import settings
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_api_key.permissions import HasAPIKey as PackageHasAPIKey

_key_app = next(app for app in settings.INSTALLED_APPS if app.endswith(".api_keys"))
_project = _key_app.removesuffix(".api_keys")
WhoAmIView = importlib.import_module(f"{_project}.api.views").WhoAmIView
APIKey = importlib.import_module(f"{_key_app}.models").APIKey

# "first key", a 12-character lookup id, a timestamp with microseconds, no expiry.
CONSTANT_KEY = APIKey(
    name="first key",
    lookup_id="000000000000",
    created=datetime(2025, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
    expiry_date=None,
)


class OpenWhoAmIView(WhoAmIView):
    """whoami with no key check: the cost of the rest of the stack."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response(self.get_serializer(CONSTANT_KEY).data)


class PackageWhoAmIView(OpenWhoAmIView):
    """whoami guarded by djangorestframework-api-key 3.1.0, as its documentation wires it."""

    permission_classes = [PackageHasAPIKey]
