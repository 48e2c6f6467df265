"""Usage logs: one line per API request, naming the key by its lookup id and name."""

import json
import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.encoding import escape_uri_path
from rest_framework.views import APIView

from .permissions import request_key

logger = logging.getLogger("api_keys.usage")


class UsageLogMiddleware:
    """Log each request that a DRF view handled, at INFO on the `api_keys.usage` logger:

        GET /api/v1/whoami/ 200 3.1ms key=4fTq0c9ZbLw2 name="billing-service"

    `key=- name=-` when the request had no valid key. Never the secret, the key or its header.
    The same values are on the record for structured handlers: method, path, status,
    duration_ms, lookup_id, key_name.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        if self.is_api_request(request):
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            self.log(request, response, duration_ms)
        return response

    def is_api_request(self, request: HttpRequest) -> bool:
        match = request.resolver_match
        view_class = getattr(match.func, "cls", None) if match else None
        return isinstance(view_class, type) and issubclass(view_class, APIView)

    def log(self, request: HttpRequest, response: HttpResponse, duration_ms: float) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return  # nothing to format
        api_key = request_key(request)
        fields = {
            "method": request.method,
            "path": escape_uri_path(request.path),  # quoted: a path cannot break the line
            "status": response.status_code,
            "duration_ms": duration_ms,
            "lookup_id": api_key.lookup_id if api_key else "-",
            "key_name": api_key.name if api_key else "-",
        }
        shown_name = json.dumps(api_key.name, ensure_ascii=False) if api_key else "-"
        logger.info(
            "%s %s %s %sms key=%s name=%s",
            fields["method"],
            fields["path"],
            fields["status"],
            fields["duration_ms"],
            fields["lookup_id"],
            shown_name,
            extra=fields,
        )
