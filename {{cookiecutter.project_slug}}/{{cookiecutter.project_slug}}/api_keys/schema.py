"""OpenAPI: how drf-spectacular describes APIKeyAuthentication: a header, and view scopes."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .authentication import APIKeyAuthentication
from .settings import api_keys_settings


def header_name(meta_name: str) -> str:
    """The HTTP header behind a request.META name: HTTP_X_API_KEY -> X-Api-Key."""
    return meta_name.removeprefix("HTTP_").replace("_", "-").title()


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = APIKeyAuthentication
    match_subclasses = True
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        options = api_keys_settings()
        if options.header:
            header, example = header_name(options.header), "<key>"
        else:
            header, example = "Authorization", f"{options.keyword} <key>"
        return {
            "type": "apiKey",
            "in": "header",
            "name": header,
            "description": f"An API key, sent as `{header}: {example}`.",
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        # OpenAPI 3.1 lets non-OAuth schemes list roles: here, the scopes the view requires.
        return {self.name: sorted(getattr(auto_schema.view, "required_scopes", ()))}
