"""Where a request's API key is read and checked: `KeyParser` and `APIKeyAuthentication`."""

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from .models import AbstractAPIKey, APIKey
from .settings import api_keys_settings


def header_name(meta_name: str) -> str:
    """The HTTP header behind a request.META name: HTTP_X_API_KEY -> X-Api-Key."""
    return meta_name.removeprefix("HTTP_").replace("_", "-").title()


def key_header() -> tuple[str, str]:
    """The header clients send their key in, and how its value reads:
    ("Authorization", "Api-Key <key>"), or ("X-Api-Key", "<key>") with API_KEYS["HEADER"]."""
    options = api_keys_settings()
    if options.header:
        return header_name(options.header), "<key>"
    return "Authorization", f"{options.keyword} <key>"


class KeyParser:
    """Reads the presented key from `Authorization: Api-Key <key>` or the configured header."""

    keyword: str | None = None  # None: API_KEYS["KEYWORD"]

    def get(self, request: HttpRequest | Request) -> str | None:
        header = api_keys_settings().header
        if header:
            return self.get_from_header(request, header)
        return self.get_from_authorization(request)

    def get_keyword(self) -> str:
        return self.keyword or api_keys_settings().keyword

    def get_from_authorization(self, request: HttpRequest | Request) -> str | None:
        authorization = request.META.get("HTTP_AUTHORIZATION", "")
        keyword, found, key = authorization.partition(" ")
        if not found or keyword.lower() != self.get_keyword().lower():
            return None
        return key or None

    def get_from_header(self, request: HttpRequest | Request, name: str) -> str | None:
        return request.META.get(name) or None


class APIKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to the caller's key; answers 401 for a bad, revoked or expired key.

    A request without a key is left to the permission classes, which answer 401 too.
    `request.user` stays anonymous: a key identifies a client system, not a person.
    """

    model: type[AbstractAPIKey] = APIKey
    key_parser = KeyParser()

    def authenticate(self, request: Request) -> tuple[AnonymousUser, AbstractAPIKey] | None:
        key = self.key_parser.get(request)
        if key is None:
            return None
        api_key = self.verify(key)
        self.model.objects.record_use(api_key)
        return AnonymousUser(), api_key

    def verify(self, key: str) -> AbstractAPIKey:
        """The usable, unexpired key object for `key`, or AuthenticationFailed saying why not."""
        return self._accept(*self.model.objects.check_key(key))

    async def averify(self, key: str) -> AbstractAPIKey:
        """`verify` for async code, such as async views and websocket consumers."""
        return self._accept(*await self.model.objects.acheck_key(key))

    def _accept(self, well_formed: bool, api_key: AbstractAPIKey | None) -> AbstractAPIKey:
        if not well_formed:
            raise AuthenticationFailed("Malformed API key.", code="malformed_api_key")
        if api_key is None:
            raise AuthenticationFailed("Invalid API key.", code="invalid_api_key")
        if api_key.has_expired:
            raise AuthenticationFailed("API key has expired.", code="expired_api_key")
        return api_key

    def authenticate_header(self, request: Request) -> str:
        return self.key_parser.get_keyword()
