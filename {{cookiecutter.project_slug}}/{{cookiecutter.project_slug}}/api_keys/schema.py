"""OpenAPI: how drf-spectacular describes APIKeyAuthentication: a header, and view scopes."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from .authentication import APIKeyAuthentication, key_header


class APIKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = APIKeyAuthentication
    match_subclasses = True
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        header, example = key_header()
        return {
            "type": "apiKey",
            "in": "header",
            "name": header,
            "description": f"An API key, sent as `{header}: {example}`.",
        }

    def get_security_requirement(self, auto_schema: Any) -> dict[str, list[str]]:
        # OpenAPI 3.1 lets non-OAuth schemes list roles: here, the scopes the view requires.
        return {self.name: sorted(getattr(auto_schema.view, "required_scopes", ()))}
