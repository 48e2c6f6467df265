"""`APIKeyAuthentication`: sets `request.auth` to the caller's key, or answers 401."""

from asgiref.sync import sync_to_async
from django.contrib.auth.models import AnonymousUser
from django.views.decorators.debug import sensitive_variables
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request

from .models import AbstractAPIKey, APIKey
from .permissions import (
    BaseHasAPIKey,
    KeyParser,
    check_request,
    key_permissions,
    raise_if_retry_later,
)
from .settings import api_keys_settings
from .throttling import RefusalThrottle
from .verification import Verdict, verify_key


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
            try:
                verdict = check_request(request, model, key)
            except PermissionDenied:  # a pinned key from elsewhere: a refusal like any other
                self.refusals.count(request)
                raise
            if verdict.accepted and verdict.api_key is not None:
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
            key = permission.get_key(request)
            if key is not None and permission.model is not None:
                presented.append((permission.model, key))
        return presented

    def key_permissions(self, request: Request) -> list[BaseHasAPIKey]:
        """The key permissions of the view that handles `request`, in order."""
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if view is None:
            return []
        permissions = view.get_permissions()
        return [found for permission in permissions for found in key_permissions(permission)]

    @sensitive_variables()
    def verify(self, key: str) -> AbstractAPIKey:
        """The usable, unexpired key object for `key` (recorded as used), or
        AuthenticationFailed saying why not; for code that reads keys itself, such as
        websocket consumers."""
        verdict: Verdict[AbstractAPIKey] = verify_key(self.model.objects, key)
        raise_if_retry_later(verdict)
        if not verdict.accepted or verdict.api_key is None:
            raise AuthenticationFailed(verdict.message, code=verdict.code)
        self.model.objects.record_use(verdict.api_key)
        return verdict.api_key

    async def averify(self, key: str) -> AbstractAPIKey:
        """`verify` for async code: the database is used without blocking the event loop."""
        return await sync_to_async(self.verify)(key)

    def authenticate_header(self, request: Request) -> str:
        """The WWW-Authenticate challenge of a 401: the keyword clients send keys with, read from
        the view's key parser. A parser with only `get(request)`, as djangorestframework-api-key
        accepts, gets its `keyword` if it has one, else API_KEYS["KEYWORD"]."""
        permissions = self.key_permissions(request)
        parser = permissions[0].key_parser if permissions else self.key_parser
        get_keyword = getattr(parser, "get_keyword", None)
        keyword = get_keyword() if callable(get_keyword) else getattr(parser, "keyword", None)
        return keyword if isinstance(keyword, str) and keyword else api_keys_settings().keyword
