"""What every API answer needs: HTTPS, and the right response headers."""

import logging
import re
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import patch_cache_control
from django.utils.encoding import escape_uri_path

from .exceptions import error_body

logger = logging.getLogger(__name__)


class HTTPSOnlyMiddleware:
    """Answer plain HTTP to the paths in settings.HTTPS_ONLY_PATHS with 403 `https_required`.

    A redirect would let a client that sent its key in clear carry on without noticing; a refusal
    tells it. With no paths (development, tests) the middleware leaves the chain.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.paths = [re.compile(pattern) for pattern in settings.HTTPS_ONLY_PATHS]
        if not self.paths:
            raise MiddlewareNotUsed

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path.lstrip("/")  # as SecurityMiddleware matches SECURE_REDIRECT_EXEMPT
        if request.is_secure() or not any(pattern.search(path) for pattern in self.paths):
            return self.get_response(request)
        logger.warning("Refused plain HTTP: %s %s", request.method, escape_uri_path(request.path))
        message = "Use HTTPS: this API refuses plain HTTP, and a key sent over it may be exposed."
        response = JsonResponse(error_body("https_required", message), status=403)
        patch_cache_control(response, no_store=True)
        return response


class NoStoreMiddleware:
    """Mark responses `Cache-Control: no-store` unless the view chose a caching policy itself.

    API answers describe one client's data: no proxy or browser cache should keep them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            patch_cache_control(response, no_store=True)
        return response


class ContentSecurityPolicyMiddleware:
    """Send `Content-Security-Policy` from the SECURE_CSP setting on Django 5.2.

    Django 6.0 and later do this themselves (django.middleware.csp); production.py picks one.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = "; ".join(
            f"{directive} {' '.join(sources)}" for directive, sources in settings.SECURE_CSP.items()
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        return response
