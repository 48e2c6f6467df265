"""Where a request's key is read and judged: `KeyParser`, the permission classes `HasAPIKey` and
`BaseHasAPIKey` (to build one for a custom key model), and the request's one verified key.

A request's key is verified once, whoever asks first: the authentication class and the key
permissions call `check_request`, which keeps each verdict on the request (by key model and
key) and remembers the first key accepted, which the throttle and the usage log read with
`request_key`. Everything is kept on the request object, so nothing outlives it.
"""

import math
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest
from django.views.decorators.debug import sensitive_variables
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.permissions import AND, NOT, OR, BasePermission
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from .addresses import address_allowed
from .models import AbstractAPIKey, APIKey
from .scopes import scopes_for_method
from .settings import api_keys_settings
from .usage import count_refused
from .verification import TOO_MANY_ATTEMPTS, Verdict, verify_key

__all__ = ["BaseHasAPIKey", "HasAPIKey", "KeyParser", "check_request", "request_key"]


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
        authorization = _django_request(request).META.get("HTTP_AUTHORIZATION", "")
        keyword, found, key = authorization.partition(" ")
        if not found or keyword.lower() != self.get_keyword().lower():
            return None
        return key or None

    @sensitive_variables()
    def get_from_header(self, request: HttpRequest | Request, name: str) -> str | None:
        return _django_request(request).META.get(name) or None


def _django_request(request: HttpRequest | Request) -> HttpRequest:
    # A DRF Request passes attribute reads on to the Django request, through __getattr__.
    return request._request if isinstance(request, Request) else request


_addresses = BaseThrottle()  # its get_ident reads a request's client address


def client_address(request: HttpRequest | Request) -> str:
    """The client's address, as DRF's throttles read it: REMOTE_ADDR, or the X-Forwarded-For
    entry that REST_FRAMEWORK["NUM_PROXIES"] trusted proxies point at."""
    return _addresses.get_ident(request)  # type: ignore[arg-type]  # reads only request.META


IP_NOT_ALLOWED: Verdict[Any] = Verdict(
    "ip_not_allowed", "This API key may not be used from this address."
)


def check_request(
    request: HttpRequest | Request, model: type[AbstractAPIKey], key: str
) -> Verdict[AbstractAPIKey]:
    """`verify_key` for a request, once per key model and key, then the key's `allowed_ips`
    (addresses.py; no query: the networks are in the key's row, and a child's parent's in the
    same one). The first key accepted is
    recorded as used and becomes `request_key(request)`; a refused key that was found is
    counted as refused in its usage. Raises Throttled (429 with Retry-After) where the
    request's address has used up a cap on costly checks, and PermissionDenied (403
    `ip_not_allowed`) for a good key used from an address it may not be used from."""
    attributes = _django_request(request).__dict__
    verdicts = attributes.setdefault("_api_key_verdicts", {})
    verdict: Verdict[AbstractAPIKey] | None = verdicts.get((model, key))
    if verdict is None:
        address = client_address(request)
        verdict = verify_key(model.objects, key, address)
        api_key = verdict.api_key
        pins = api_key.networks if verdict.accepted and api_key else []
        if any(networks and not address_allowed(address, networks) for networks in pins):
            verdict = IP_NOT_ALLOWED._replace(api_key=api_key)
        verdicts[(model, key)] = verdict
        if verdict.accepted and api_key is not None and "_api_key" not in attributes:
            attributes["_api_key"] = api_key
            model.objects.record_use(api_key)
        elif api_key is not None:
            count_refused(api_key)
    raise_if_retry_later(verdict)
    return verdict


def raise_if_retry_later(verdict: Verdict[Any]) -> None:
    """Throttled (429 with Retry-After) for a verdict that says the client must wait, rather than
    a 401 that would read as a bad key; PermissionDenied (403) for a good key used from an
    address it is not allowed from."""
    if verdict.code == TOO_MANY_ATTEMPTS:
        raise Throttled(wait=math.ceil(verdict.retry_after or 1))
    if verdict.code == IP_NOT_ALLOWED.code:
        raise PermissionDenied(verdict.message, code=verdict.code)


def request_key(request: HttpRequest | Request) -> AbstractAPIKey | None:
    """The key the request was accepted with, by whichever class checked it (an
    authentication class of your own that sets `request.auth` to a key included), or None."""
    django_request = _django_request(request)
    api_key: AbstractAPIKey | None = django_request.__dict__.get("_api_key")
    if api_key is None:
        auth = getattr(django_request, "auth", None)  # set by DRF on both requests
        api_key = auth if isinstance(auth, AbstractAPIKey) else None
    return api_key


def presented_key(request: HttpRequest | Request) -> AbstractAPIKey | None:
    """The key the request was accepted with or, failing that, the stored key a refused one
    matched (expired, or used from an address it is not allowed from); for logs."""
    if (api_key := request_key(request)) is not None:
        return api_key
    verdicts = _django_request(request).__dict__.get("_api_key_verdicts", {})
    return next((found.api_key for found in verdicts.values() if found.api_key), None)


def check_scopes(api_key: AbstractAPIKey, view: Any, method: str) -> None:
    """Raise PermissionDenied (403 `missing_scope`) unless the key holds every scope the view's
    `required_scopes` asks of `method` (scopes.py: a list, or a dict by method); a child key,
    only the scopes its parent holds too."""
    required = scopes_for_method(getattr(view, "required_scopes", None), method)
    if required is None:
        if not hasattr(view, method.lower()):
            return  # a method the view does not handle: DRF answers 405
        count_refused(api_key)
        raise PermissionDenied(f"No API key may use {method} here.", code="missing_scope")
    if missing := sorted(set(required).difference(api_key.granted_scopes)):
        count_refused(api_key)
        # Raised rather than returned: DRF would answer a refusal of `A | B` with no message.
        raise PermissionDenied(
            f"This API key lacks the scope(s): {', '.join(missing)}.", code="missing_scope"
        )


class BaseHasAPIKey(BasePermission):
    """Grants access to a request that carries a valid key of `model` holding every scope the
    view's `required_scopes` asks of the request's method (a list for every method, or a dict by
    method); a valid key that lacks one gets 403 `missing_scope`.

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
        key = self.get_key(request)
        if key is None:
            return False
        verdict = check_request(request, self.model, key)
        api_key = verdict.api_key if verdict.accepted else None
        if api_key is None:
            return False
        check_scopes(api_key, view, request.method or "GET")
        return True

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        return self.has_permission(request, view)


class HasAPIKey(BaseHasAPIKey):
    model = APIKey


def key_permissions(permission: Any) -> Iterator[BaseHasAPIKey]:
    """The key permissions in a view's permission, `HasAPIKey | IsAuthenticated` included."""
    if isinstance(permission, BaseHasAPIKey):
        yield permission
    elif isinstance(permission, AND | OR | NOT):
        operator: Any = permission  # DRF keeps the operands in op1 (and op2)
        yield from key_permissions(operator.op1)
        if not isinstance(permission, NOT):
            yield from key_permissions(operator.op2)
