"""One error shape for every failure: `{"error": {"code": ..., "message": ...}}`."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, reshaped. A database that cannot be reached or does not answer
    (OperationalError, InterfaceError) is an outage: 503 with Retry-After, logged with its
    traceback since the answer hides its cause. Any other database error is a bug, left to
    Django: 500, with its traceback in the log and the error report."""
    if isinstance(exc, OperationalError | InterfaceError):
        view = context.get("view")
        logger.error("Database error in %s, answered 503", type(view).__name__, exc_info=exc)
        return Response(
            error_body("service_unavailable", "The service is unavailable; try again shortly."),
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    if isinstance(exc, Http404):  # get_object_or_404, and views that raise it: DRF's own 404
        exc = NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(detail, dict) and "detail" in detail:
        codes = exc.get_codes() if hasattr(exc, "get_codes") else "error"
        response.data = error_body(str(codes), str(detail["detail"]))
    else:  # field errors of a serializer
        response.data = error_body("invalid", "The request is not valid.", fields=detail)
    return response
