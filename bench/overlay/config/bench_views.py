"""The views the benchmark adds beside /api/v1/whoami/, differing from it only in the key check.

Each is the project's own whoami view (same serializer, renderer and middleware), with its key
check replaced, and no throttle (the package has no per-key throttle; the floor does the least):
- OpenWhoAmIView: no key check at all;
- FloorWhoAmIView: the least an exact check can do, in the view: the header read, the key split
  into lookup id and secret, one raw SELECT by lookup id, SHA-256 of the secret, a constant-time
  compare with the stored hash, revoked and expiry; 401 otherwise. It serializes the row;
- PackageWhoAmIView: djangorestframework-api-key's HasAPIKey instead of the project's key app.
The open and package views have no caller's key (the package's HasAPIKey does not hand it to
the view, and fetching it would cost a second query, favouring the project), so both show a
constant unsaved key, with values as long as the keys the benchmark makes: run.py compares the
body sizes.
"""

import hashlib
import hmac
import importlib
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
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

# The floor's one query: the columns it judges and the ones whoami shows.
_table = connection.ops.quote_name(APIKey._meta.db_table)
FLOOR_SELECT = (
    "SELECT hashed_key, revoked, expiry_date, name, lookup_id, created "
    f"FROM {_table} WHERE lookup_id = %s"
)
CHECKSUM_LENGTH = 6  # a key reads <brand>_<lookup id>_<secret><checksum> (api_keys/keys.py)
INVALID = {"error": {"code": "invalid_api_key", "message": "Invalid API key."}}


def _aware(value: datetime | None) -> datetime | None:
    """SQLite's raw rows hold naive UTC datetimes; PostgreSQL's are aware already."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class OpenWhoAmIView(WhoAmIView):
    """whoami with no key check: the cost of the rest of the stack."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request: Request) -> Response:
        return Response(self.get_serializer(CONSTANT_KEY).data)


class FloorWhoAmIView(OpenWhoAmIView):
    """whoami checked by the least an exact check can do, written out in the view."""

    def get(self, request: Request) -> Response:
        keyword, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        head, _, tail = key.rpartition("_")
        lookup_id, secret = head.rpartition("_")[2], tail[:-CHECKSUM_LENGTH]
        if keyword != "Api-Key" or not lookup_id or not secret:
            return Response(INVALID, status=401)
        with connection.cursor() as cursor:
            cursor.execute(FLOOR_SELECT, [lookup_id])
            row = cursor.fetchone()
        if row is None:
            return Response(INVALID, status=401)
        hashed_key, revoked, expiry_date, name, lookup_id, created = row
        expected = "sha256$" + hashlib.sha256(secret.encode()).hexdigest()
        expiry_date = _aware(expiry_date)
        if (
            not hmac.compare_digest(expected, hashed_key)
            or revoked
            or (expiry_date is not None and expiry_date <= datetime.now(UTC))
        ):
            return Response(INVALID, status=401)
        shown = {"name": name, "lookup_id": lookup_id, "created": _aware(created)}
        return Response(self.get_serializer({**shown, "expiry_date": expiry_date}).data)


class PackageWhoAmIView(OpenWhoAmIView):
    """whoami guarded by djangorestframework-api-key 3.1.0, as its documentation wires it."""

    permission_classes = [PackageHasAPIKey]
