"""Usage logs: one line per API request, naming the key by its lookup id and name."""

import json
import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.encoding import escape_uri_path
from rest_framework.views import APIView

from .permissions import presented_key

logger = logging.getLogger("api_keys.usage")


class UsageLogMiddleware:
    """Log each request that a DRF view handled, at INFO on the `api_keys.usage` logger:

        GET /api/v1/whoami/ 200 3.1ms key=4fTq0c9ZbLw2 name="billing-service"
        GET /api/v1/whoami/ 403 2.8ms key=4fTq0c9ZbLw2 name="billing-service" error=ip_not_allowed

    `key=` names the key the request was accepted with, or the stored key a refused one
    matched (expired, or used from an address it is not allowed from); `key=- name=-` when
    there is none. `error=` is the code of an error answer. Never the secret, the key or its
    header. The same values are on the record for structured handlers: method, path, status,
    duration_ms, lookup_id, key_name, error (None for a success).
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
        api_key = presented_key(request)
        fields = {
            "method": request.method,
            "path": escape_uri_path(request.path),  # quoted: a path cannot break the line
            "status": response.status_code,
            "duration_ms": duration_ms,
            "lookup_id": api_key.lookup_id if api_key else "-",
            "key_name": api_key.name if api_key else "-",
            "error": error_code(response),
        }
        shown_name = json.dumps(api_key.name, ensure_ascii=False) if api_key else "-"
        logger.info(
            "%s %s %s %sms key=%s name=%s%s",
            fields["method"],
            fields["path"],
            fields["status"],
            fields["duration_ms"],
            fields["lookup_id"],
            shown_name,
            f" error={fields['error']}" if fields["error"] else "",
            extra=fields,
        )


def error_code(response: HttpResponse) -> str | None:
    """The code of a DRF error answer, `{"error": {"code": ...}}` or `{"detail": ...}`'s."""
    if response.status_code < 400:
        return None
    data = getattr(response, "data", None)
    if not isinstance(data, dict):
        return "error"
    error = data.get("error")  # this project's shape; DRF's is {"detail": ErrorDetail}
    if isinstance(error, dict):
        code = error.get("code")
    else:
        code = getattr(data.get("detail"), "code", None)
    if isinstance(code, str) and code.replace("_", "").isalnum():
        return code
    return "error"
