"""Permission classes: `HasAPIKey` and the base to build one for a custom key model."""

from typing import Any

from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .authentication import KeyParser
from .models import AbstractAPIKey, APIKey

__all__ = ["BaseHasAPIKey", "HasAPIKey", "KeyParser"]


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
            key = self.get_key(request)
            verdicts[self.model] = key is not None and self.model.objects.is_valid(key)
        return verdicts[self.model]

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return self.has_permission(request, view)


class HasAPIKey(BaseHasAPIKey):
    model = APIKey
