"""The sample API. Protected by the defaults in settings.REST_FRAMEWORK: an API key is required."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..api_keys.models import APIKey
from .exceptions import error_body


class WhoAmIView(APIView):
    """GET: the key the request was made with."""

    def get(self, request: Request) -> Response:
        api_key = request.auth
        return Response(
            {
                "name": api_key.name,
                "lookup_id": api_key.lookup_id,
                "created": api_key.created,
                "expires": api_key.expiry_date,
            }
        )


class APIKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = APIKey
        fields = ["lookup_id", "name", "scopes", "created", "expiry_date", "last_used_at"]


class NewestFirst(CursorPagination):
    ordering = "-created"
    page_size = 50


class APIKeyListView(ListAPIView):
    """GET: the keys not revoked, newest first, never a secret. Needs the `keys:read` scope."""

    required_scopes = ["keys:read"]
    serializer_class = APIKeySerializer
    pagination_class = NewestFirst
    queryset = APIKey.objects.filter(revoked=False)


class HealthView(APIView):
    """GET: 200 while the process serves requests. Open: no key, no database."""

    authentication_classes = []
    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
