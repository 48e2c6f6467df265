"""OpenAPI: how drf-spectacular describes API key authentication: a header, and the scopes a
view's key permission enforces."""

from typing import Any

from drf_spectacular.authentication import SessionScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.permissions import AND, OR

from .authentication import APIKeyAuthentication
from .permissions import BaseHasAPIKey, key_header, key_permissions
from .scopes import scopes_for_method


def requires_key(permission: Any) -> bool:
    """Whether a view's permission refuses every request without a valid key."""
    if isinstance(permission, BaseHasAPIKey):
        return True
    if isinstance(permission, AND):
        return requires_key(permission.op1) or requires_key(permission.op2)  # type: ignore[attr-defined]
    if isinstance(permission, OR):
        return requires_key(permission.op1) and requires_key(permission.op2)  # type: ignore[attr-defined]
    return False  # NOT, and every other class


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = APIKeyAuthentication
    match_subclasses = True

    @property
    def name(self) -> str:  # type: ignore[override]
        # One scheme per class: a subclass (say, with another header) is a scheme of its own.
        target = self.target if isinstance(self.target, type) else type(self.target)
        return "ApiKeyAuth" if target is APIKeyAuthentication else target.__name__

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        header, example = key_header()
        return {
            "type": "apiKey",
            "in": "header",
            "name": header,
            "description": f"An API key, sent as `{header}: {example}`.",
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        # OpenAPI 3.1 lets non-OAuth schemes list roles: here, the scopes the view's key
        # permission enforces for this operation's method (none where no key permission guards
        # the view).
        permissions = auto_schema.view.get_permissions()
        guarded = any(True for permission in permissions for _ in key_permissions(permission))
        required = getattr(auto_schema.view, "required_scopes", None) if guarded else None
        return {self.name: sorted(scopes_for_method(required, auto_schema.method) or [])}


class SessionSchemeWhereNoKeyIsRequired(SessionScheme):
    """The session cookie, listed only on views that a logged-in user may call without a key
    (e.g. `HasAPIKey | IsAuthenticated`)."""

    priority = 1

    # None: the scheme is not listed on this view (the stubs' return type has no None).
    def get_security_requirement(self, auto_schema: Any) -> Any:
        if any(requires_key(permission) for permission in auto_schema.view.get_permissions()):
            return None
        return super().get_security_requirement(auto_schema)
