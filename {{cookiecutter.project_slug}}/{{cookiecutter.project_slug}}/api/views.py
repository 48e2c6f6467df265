"""The sample API. Protected by the defaults in settings.REST_FRAMEWORK: an API key is required."""

from typing import Any

from django.http import HttpRequest, JsonResponse
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

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


class HealthView(APIView):
    """GET: 200 while the process serves requests. Open: no key, no database, no cache."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = []

    def get(self, request: Request) -> Response:
        return Response({"status": "ok"})


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def server_error(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)
