"""Permission classes: `HasAPIKey`, and `BaseHasAPIKey` to build one for a custom key model."""

from typing import Any

from django.views.decorators.debug import sensitive_variables
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .authentication import KeyParser
from .models import AbstractAPIKey, APIKey
from .verification import permission_verdict

__all__ = ["BaseHasAPIKey", "HasAPIKey", "KeyParser", "missing_scopes"]


def missing_scopes(api_key: AbstractAPIKey, view: Any) -> list[str]:
    """The scopes in the view's `required_scopes` that the key does not hold, sorted."""
    required = getattr(view, "required_scopes", None)
    return sorted(set(required).difference(api_key.scopes)) if required else []


class BaseHasAPIKey(BasePermission):
    """Grants access to a request that carries a valid key of `model` holding every scope in the
    view's `required_scopes`; a valid key that lacks one gets 403 `missing_scope`.

    The key is read by `get_key` (by default `key_parser`: `Authorization: Api-Key <key>`).
    Works behind `APIKeyAuthentication`, which checks the key with this class's model and
    `get_key`, or on its own beside other authentication classes; either way a request's key is
    checked once.
    """

    model: type[AbstractAPIKey] | None = None
    key_parser = KeyParser()

    def get_key(self, request: Request) -> str | None:
        return self.key_parser.get(request)

    @sensitive_variables()
    def has_permission(self, request: Request, view: Any) -> bool:
        if self.model is None:
            raise TypeError(f"{type(self).__name__} must set `model` to a key model.")
        # Read and checked once, with the authentication class if it ran.
        verdict = permission_verdict(request, self)
        api_key = verdict.api_key if verdict is not None else None
        if api_key is None:
            return False
        if missing := missing_scopes(api_key, view):
            # Raised rather than returned: DRF would answer a refusal of `A | B` with no message.
            raise PermissionDenied(
                f"This API key lacks the scope(s): {', '.join(missing)}.", code="missing_scope"
            )
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return self.has_permission(request, view)


class HasAPIKey(BaseHasAPIKey):
    model = APIKey
