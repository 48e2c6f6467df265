"""Where a request's API key is read and checked: `KeyParser` and `APIKeyAuthentication`."""

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import AND, NOT, OR
from rest_framework.request import Request

from .models import AbstractAPIKey, APIKey
from .settings import api_keys_settings
from .throttling import RefusalThrottle
from .verification import presented_key, verify_key, verify_request

if TYPE_CHECKING:
    from .permissions import BaseHasAPIKey


def header_name(meta_name: str) -> str:
    """The HTTP header behind a request.META name: HTTP_X_API_KEY -> X-Api-Key."""
    return meta_name.removeprefix("HTTP_").replace("_", "-").title()


def key_header() -> tuple[str, str]:
    """The header clients send their key in, and how its value reads:
    ("Authorization", "Api-Key <key>"), or ("X-Api-Key", "<key>") with API_KEY_CUSTOM_HEADER."""
    options = api_keys_settings()
    if options.header:
        return header_name(options.header), "<key>"
    return "Authorization", f"{options.keyword} <key>"


class SettingsKeyword:
    """`KeyParser.keyword` until a subclass or an instance sets its own: API_KEYS["KEYWORD"],
    read each time, so that a changed setting applies."""

    def __get__(self, instance: object, owner: type | None = None) -> str:
        return api_keys_settings().keyword


class KeyParser:
    """Reads the presented key from `Authorization: Api-Key <key>` or the configured header.

    Subclass it and set `keyword` (e.g. "Bearer") to read `Authorization: <keyword> <key>`.
    """

    keyword = SettingsKeyword()  # reads as a str: API_KEYS["KEYWORD"], "Api-Key" by default

    def get(self, request: HttpRequest | Request) -> str | None:
        header = api_keys_settings().header
        if header:
            return self.get_from_header(request, header)
        return self.get_from_authorization(request)

    def get_keyword(self) -> str:
        return self.keyword or api_keys_settings().keyword  # `keyword = None`: the setting

    @sensitive_variables()
    def get_from_authorization(self, request: HttpRequest | Request) -> str | None:
        # META of the Django request: a DRF Request would look it up through __getattr__.
        authorization = getattr(request, "_request", request).META.get("HTTP_AUTHORIZATION", "")
        keyword, found, key = authorization.partition(" ")
        if not found or keyword.lower() != self.get_keyword().lower():
            return None
        return key or None

    @sensitive_variables()
    def get_from_header(self, request: HttpRequest | Request, name: str) -> str | None:
        return request.META.get(name) or None


def key_permissions(permission: Any) -> Iterator["BaseHasAPIKey"]:
    """The key permissions in a view's permission, `HasAPIKey | IsAuthenticated` included."""
    from .permissions import BaseHasAPIKey

    if isinstance(permission, BaseHasAPIKey):
        yield permission
    elif isinstance(permission, AND | OR | NOT):
        operator: Any = permission  # DRF keeps the operands in op1 (and op2)
        yield from key_permissions(operator.op1)
        if not isinstance(permission, NOT):
            yield from key_permissions(operator.op2)


class APIKeyAuthentication(BaseAuthentication):
    """Sets `request.auth` to the caller's key; answers 401 for a bad, revoked or expired key.

    The key is read and checked with the model and the `get_key` of the view's key permissions
    (`HasAPIKey`, or a `BaseHasAPIKey` subclass for a custom model or parser), so that both
    agree on what a key is; on a view without one, with `model` and `key_parser` here. A request
    without a key is left to the permission classes, which answer 401 too. `request.user` stays
    anonymous: a key identifies a client system, not a person.
    """

    model: type[AbstractAPIKey] = APIKey
    key_parser = KeyParser()
    refusals = RefusalThrottle()  # shared by every request of the process

    @sensitive_variables()
    def authenticate(self, request: Request) -> tuple[AnonymousUser, AbstractAPIKey] | None:
        presented = self.presented_keys(request)
        if not presented:
            return None
        self.refusals.check(request)
        refusals = []
        for model, key in presented:
            verdict = verify_request(request, model, key)
            if verdict.api_key is not None:
                return AnonymousUser(), verdict.api_key
            refusals.append(verdict)
        self.refusals.count(request)
        raise AuthenticationFailed(refusals[0].message, code=refusals[0].code)

    def presented_keys(self, request: Request) -> list[tuple[type[AbstractAPIKey], str]]:
        """(model, key) for each key permission of the view that finds a key in the request.
        (Called by `authenticate`, whose `sensitive_variables` covers this frame too.)"""
        permissions = self.key_permissions(request)
        if not permissions:
            key = self.key_parser.get(request)
            return [] if key is None else [(self.model, key)]
        presented = []
        for permission in permissions:
            key = presented_key(request, permission)
            if key is not None and permission.model is not None:
                presented.append((permission.model, key))
        return presented

    def key_permissions(self, request: Request) -> list["BaseHasAPIKey"]:
        """The key permissions of the view that handles `request`, in order."""
        from .permissions import BaseHasAPIKey

        view = (getattr(request, "parser_context", None) or {}).get("view")
        if view is None:
            return []
        found: list[BaseHasAPIKey] = []
        for permission in view.get_permissions():
            if isinstance(permission, BaseHasAPIKey):
                found.append(permission)  # the usual case, without key_permissions' generator
            else:
                found += key_permissions(permission)
        return found

    @sensitive_variables()
    def verify(self, key: str) -> AbstractAPIKey:
        """The usable, unexpired key object for `key` (recorded as used), or
        AuthenticationFailed saying why not; for code that reads keys itself, such as
        websocket consumers."""
        verdict = verify_key(self.model.objects, key)
        if verdict.api_key is None:
            raise AuthenticationFailed(verdict.message, code=verdict.code)
        self.model.objects.record_use(verdict.api_key)
        return verdict.api_key

    async def averify(self, key: str) -> AbstractAPIKey:
        """`verify` for async code: the database is used without blocking the event loop."""
        return await sync_to_async(self.verify)(key)

    def authenticate_header(self, request: Request) -> str:
        """The WWW-Authenticate challenge of a 401: the keyword clients send keys with."""
        for permission in self.key_permissions(request):
            return permission.key_parser.get_keyword()
        return self.key_parser.get_keyword()
