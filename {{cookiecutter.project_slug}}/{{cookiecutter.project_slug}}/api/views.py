"""The sample API. Protected by the defaults in settings.REST_FRAMEWORK: an API key is required."""

from typing import Any, cast

from django.conf import settings
from django.core.exceptions import DisallowedHost, ValidationError
from django.db.models import Field
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api_keys.models import APIKey
from .exceptions import error_body


def _help_text(field_name: str) -> str:
    return str(cast("Field[Any, Any]", APIKey._meta.get_field(field_name)).help_text)


# Fields declared rather than derived from the model: a ModelSerializer rebuilds its fields
# from the model on every request, which would double this endpoint's cost.
class WhoAmISerializer(serializers.Serializer):
    """The key the request was made with."""

    name = serializers.CharField(read_only=True, help_text=_help_text("name"))
    lookup_id = serializers.CharField(read_only=True, help_text=_help_text("lookup_id"))
    created = serializers.DateTimeField(read_only=True)
    expiry_date = serializers.DateTimeField(
        read_only=True, allow_null=True, help_text=_help_text("expiry_date")
    )


class WhoAmIView(GenericAPIView):
    """GET: the key the request was made with."""

    serializer_class = WhoAmISerializer

    def get(self, request: Request) -> Response:
        return Response(self.get_serializer(request.auth).data)


class APIKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = APIKey
        fields = ["lookup_id", "name", "scopes", "created", "expiry_date", "last_used_at"]


class NewestFirst(CursorPagination):
    """Pages newest first. A cursor's position is read as a date before it reaches the database,
    so a forged one gets the 404 of a cursor the API did not give out, not a 500."""

    ordering = "-created"
    page_size = 50

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                APIKey._meta.get_field("created").to_python(cursor.position)
            except ValidationError:
                raise NotFound(self.invalid_cursor_message) from None
        return cursor


class APIKeyListView(ListAPIView):
    """GET: the keys not revoked, newest first, never a secret. Needs the `keys:read` scope."""

    required_scopes = ["keys:read"]
    serializer_class = APIKeySerializer
    pagination_class = NewestFirst
    queryset = APIKey.objects.filter(revoked=False)


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok"])


class HealthView(GenericAPIView):
    """GET: 200 while the process serves requests. Open: no key, no database, no cache."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []
    serializer_class = HealthSerializer

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


class IndexView(GenericAPIView):
    """GET /: where to go from here, for a person who opens the server's address. Open."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        links = {"whoami": "v1:whoami", "keys": "v1:keys", "health": "healthz"}
        if settings.API_DOCS:
            links |= {"schema": "schema", "docs": "api-docs"}
        return Response({name: reverse(url_name) for name, url_name in links.items()})


class OnlyWhereAPIDocsIsOn(APIView):
    """Open to all, and 404 unless settings.API_DOCS is on (development by default)."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        if not settings.API_DOCS:  # answered in the API's JSON error shape, not as a schema
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = "application/json"
            raise Http404


class APISchemaView(OnlyWhereAPIDocsIsOn, SpectacularAPIView):
    """The OpenAPI schema. Where it is off, `manage.py spectacular --file schema.yaml` writes it
    for publishing."""


class APIDocsView(OnlyWhereAPIDocsIsOn, SpectacularSwaggerSplitView):
    """Swagger UI for the schema."""


def bad_request(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    if isinstance(exception, DisallowedHost):
        message = "The Host header names a host this server does not answer for."
        return JsonResponse(error_body("disallowed_host", message), status=400)
    return JsonResponse(error_body("bad_request", "Bad request."), status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
