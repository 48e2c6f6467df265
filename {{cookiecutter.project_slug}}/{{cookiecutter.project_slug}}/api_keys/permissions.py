"""Permission classes: `HasAPIKey` and the base to build one for a custom key model."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .authentication import KeyParser
from .models import AbstractAPIKey, APIKey

__all__ = ["BaseHasAPIKey", "HasAPIKey", "HasScopes", "KeyParser"]


class BaseHasAPIKey(BasePermission):
    """Grants access to a request that carries a valid key of `model`.

    Works behind `APIKeyAuthentication` (no second check) or on its own beside any other
    authentication classes; either way a request's key is verified at most once.
    """

    model: type[AbstractAPIKey] | None = None
    key_parser = KeyParser()

    def get_key(self, request: Request) -> str | None:
        return self.key_parser.get(request)

    def has_permission(self, request: Request, view: Any) -> bool:
        if self.model is None:
            raise TypeError(f"{type(self).__name__} must set `model` to a key model.")
        if isinstance(request.auth, self.model):
            return True  # APIKeyAuthentication has verified it, expiry included.
        verdicts = request.__dict__.setdefault("_api_key_verdicts", {})
        if self.model not in verdicts:
            verdicts[self.model] = self._verify(request)
        return verdicts[self.model]

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return self.has_permission(request, view)

    def _verify(self, request: Request) -> bool:
        key = self.get_key(request)
        if key is None:
            return False
        try:
            api_key = self.model.objects.get_from_key(key)
        except self.model.DoesNotExist:
            return False
        if api_key.has_expired:
            return False
        self.model.objects.record_use(api_key)
        return True


class HasAPIKey(BaseHasAPIKey):
    model = APIKey


class HasScopes(BasePermission):
    """Grants access when the request's key holds every scope in the view's `required_scopes`.

    A view without `required_scopes` needs none. A valid key that lacks one gets 403.
    """

    message = "This API key lacks a scope this endpoint requires."
    code = "missing_scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        required = set(getattr(view, "required_scopes", ()))
        if not required:
            return True
        if not isinstance(request.auth, AbstractAPIKey):
            return False
        missing = required.difference(request.auth.scopes)
        if missing:
            self.message = f"This API key lacks the scope(s): {', '.join(sorted(missing))}."
        return not missing
