"""Leaked keys revoke themselves: GitHub's secret scanning partner endpoint, and the lookup that
`findapikeys` shares with it.

GitHub scans public code for `KeyGenerator.key_pattern()` and POSTs what it finds to
`/api/v1/secret-scanning/github/`: a JSON list of `{"token", "type", "url", "source"}`, signed
with ECDSA P-256 / SHA-256 (the `Github-Public-Key-Signature` header, base64 DER) by the key the
`Github-Public-Key-Identifier` header names. `ReportView`
1. counts the report against its client address (`ReportThrottle`), and refuses a body over
   `MAX_BODY_BYTES`;
2. checks the signature over the raw body with GitHub's public key (`public_key`: from the
   Django cache, else fetched from API_KEYS["SECRET_SCANNING_KEYS_URL"], at most once per
   `FETCH_RATE`);
3. reads the list (at most `MAX_TOKENS`) and revokes each key it holds (`find_key`, then
   `revoke_leaked`), acting as "leak_report" for the key events;
4. answers, per token, `token_hash` (never the token), `token_type` and `label`:
   `true_positive` for one of our keys, revoked now or before, `false_positive` otherwise.
"""

import base64
import binascii
import hashlib
import json
import logging
import re
import urllib.request
from collections.abc import Iterable
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from django.apps import apps
from django.core.cache import caches
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.views.decorators.debug import sensitive_variables
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from .events import acting_as
from .keys import UNUSABLE_HASH, TooManyAttempts
from .models import AbstractAPIKey
from .permissions import client_address
from .rates import Window, count_hits
from .settings import api_keys_settings

logger = logging.getLogger("api_keys")

MAX_TOKENS = 1000  # per report; GitHub sends fewer
MAX_BODY_BYTES = 1_000_000
MAX_KEYS_BYTES = 1_000_000  # of GitHub's list of public keys
FETCH_TIMEOUT = 5  # seconds
FETCH_RATE = "1/min"  # fetches of the public keys, however many unknown identifiers come
KEYS_CACHE_SECONDS = 3600
KEYS_CACHE_NAME = "api_keys:secret_scanning:public_keys"
TRUE_POSITIVE, FALSE_POSITIVE = "true_positive", "false_positive"


class SignatureRequired(APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "signature_required"
    default_detail = (
        "A leak report needs the Github-Public-Key-Identifier and Github-Public-Key-Signature "
        "headers."
    )


class InvalidReportSignature(APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_code = "invalid_signature"
    default_detail = "The report's signature is not one of GitHub's secret scanning keys."


class PublicKeysUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "public_keys_unavailable"
    default_detail = (
        "GitHub's public keys cannot be read now, so the report cannot be verified; nothing "
        "was changed. Retry later."
    )

    def __init__(self, reason: str, wait: float = 60) -> None:
        super().__init__()
        self.reason = reason  # for the log, not the answer
        self.wait = max(1, round(wait))


class ReportTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = f"A leak report may have at most {MAX_BODY_BYTES} bytes."


# GitHub's public keys ----------------------------------------------------------------------


def fetch_public_keys(url: str) -> dict[str, str]:
    """GitHub's secret scanning public keys, {identifier: PEM}, read from `url`. Raises
    PublicKeysUnavailable if they cannot be read."""
    if urlsplit(url).scheme not in ("http", "https"):  # the system check says more
        raise PublicKeysUnavailable(f"{url!r} is not an http(s) URL")
    # http(s) only, checked above: no file:// or other scheme reaches urlopen.
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as answer:  # noqa: S310  # nosec B310
            body = answer.read(MAX_KEYS_BYTES + 1)
    except (URLError, OSError, ValueError) as error:  # HTTPError, a timeout, a refused connection
        raise PublicKeysUnavailable(f"{url}: {error}") from None
    try:
        if len(body) > MAX_KEYS_BYTES:
            raise ValueError(f"more than {MAX_KEYS_BYTES} bytes")
        listed = json.loads(body)["public_keys"]
        keys = {entry["key_identifier"]: entry["key"] for entry in listed}
        if not all(isinstance(value, str) for pair in keys.items() for value in pair):
            raise ValueError("an identifier or a key is not a string")
    except (ValueError, KeyError, TypeError) as error:
        raise PublicKeysUnavailable(f"{url} sent no list of public keys ({error})") from None
    return keys


def public_key(identifier: str) -> str | None:
    """The PEM of GitHub's public key `identifier`, or None if GitHub lists no such key.

    The list is kept in the Django cache for KEYS_CACHE_SECONDS and fetched again when it
    lacks `identifier` (GitHub rotated its key), at most once per FETCH_RATE in all, so reports
    with made-up identifiers cannot make the server hammer GitHub. Raises PublicKeysUnavailable
    when the list cannot be had."""
    cache = caches["default"]
    try:
        keys: dict[str, str] | None = cache.get(KEYS_CACHE_NAME)
    except Exception:  # noqa: BLE001  the cache is down: as if empty; count_hits says so below
        keys = None
    if keys is not None and identifier in keys:
        return keys[identifier]
    window = Window.of("secret_scanning:fetch", FETCH_RATE)
    counts = count_hits([window])
    if counts is None:  # logged by count_hits; no counter, no bound: do not fetch
        raise PublicKeysUnavailable("the cache is unavailable", wait=60)
    if counts[0] > window.limit:
        if keys is None:  # a fetch in this window failed, or another process's is pending
            raise PublicKeysUnavailable("fetched too recently", wait=window.seconds_left())
        return None  # fetched in this window, and not among them
    try:
        keys = fetch_public_keys(api_keys_settings().secret_scanning_keys_url)
    except PublicKeysUnavailable as refused:
        logger.warning("GitHub's secret scanning public keys cannot be read: %s", refused.reason)
        raise
    try:
        cache.set(KEYS_CACHE_NAME, keys, KEYS_CACHE_SECONDS)
    except Exception:  # noqa: BLE001  the keys work for this report all the same
        logger.warning("GitHub's public keys could not be kept in the cache.")
    return keys.get(identifier)


def decode_signature(text: str) -> bytes | None:
    """The DER bytes of a `Github-Public-Key-Signature` header, or None if it cannot be an
    ECDSA signature: such a report is refused before GitHub's keys are looked for."""
    try:
        der = base64.b64decode(text, validate=True)
        decode_dss_signature(der)
    except (ValueError, binascii.Error):
        return None
    return der


def signature_is_valid(body: bytes, der: bytes, pem: str) -> bool:
    """Whether `der` (ECDSA P-256 / SHA-256) signs `body` with the public key `pem`."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except (ValueError, TypeError):  # not a PEM public key, or one of an unknown kind
        return False
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        return False
    try:
        key.verify(der, body, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def verify_report(request: Request, body: bytes) -> None:
    """Raise unless `body` is signed by the GitHub key the request's headers name."""
    identifier = request.headers.get("Github-Public-Key-Identifier", "")
    signature = request.headers.get("Github-Public-Key-Signature", "")
    if not identifier or not signature:
        raise SignatureRequired
    der = decode_signature(signature)
    if der is None:
        raise InvalidReportSignature
    pem = public_key(identifier)
    if pem is None or not signature_is_valid(body, der, pem):
        raise InvalidReportSignature


# Finding and revoking leaked keys (the endpoint and findapikeys) ------------------------------


def key_models() -> list[type[AbstractAPIKey]]:
    """Every installed, concrete key model: a leaked key may be in any of them."""
    return [model for model in apps.get_models() if issubclass(model, AbstractAPIKey)]


@sensitive_variables()
def find_key(token: str) -> AbstractAPIKey | None:
    """The key `token` is, revoked, expired or live, in any key model; None if it is none.

    Only this project's key format counts (not imported keys' older one). For each model, one
    query by lookup id and one constant-time comparison, as verification.verify_key does,
    whether or not a row is found."""
    found = None
    for model in key_models():
        generator = model.objects.key_generator
        parsed = generator.parse(token) if re.fullmatch(generator.key_pattern(), token) else None
        if parsed is None:
            continue
        api_key = model._base_manager.filter(lookup_id=parsed.lookup_id).order_by().first()
        stored = UNUSABLE_HASH if api_key is None else api_key.hashed_key
        try:
            matches = generator.verify_secret(parsed.secret, stored)
        except TooManyAttempts:  # an imported key's slow hash, checked too often: not found
            matches = False
        if matches and api_key is not None:
            found = found or api_key
    return found


def revoke_leaked(api_key: AbstractAPIKey) -> bool:
    """Revoke a leaked key (reason "leak_report"), inside the caller's `acting_as`; False if
    it was already revoked (then nothing is recorded)."""
    model = type(api_key)
    with transaction.atomic(using=api_key._state.db):
        # Read again, locked, so two reports of one key at once revoke it, and record it, once.
        rows = model._base_manager.db_manager(api_key._state.db).select_for_update()
        live = rows.filter(pk=api_key.pk, revoked=False).first()
        if live is None:
            return False
        live.revoke(reason="leak_report")
    api_key.revoked = True
    return True


def token_hash(token: str) -> str:
    """How a token is named in an answer: the SHA-256 hex digest GitHub expects."""
    return hashlib.sha256(token.encode()).hexdigest()


# The endpoint -------------------------------------------------------------------------------


class ReportThrottle(BaseThrottle):
    """Reports allowed per client address (`permissions.client_address`), signed or not: the
    endpoint needs no key, so this bounds what anyone can make it do. Counted with the app's one
    counter. Generous: GitHub sends from few addresses, and a burst of leaks is a burst of
    reports."""

    rate = "300/min"
    window: Window | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        self.window = Window.of(f"secret_scanning:{client_address(request)}", self.rate)
        counts = count_hits([self.window])
        return counts is None or counts[0] <= self.window.limit  # cache down: let it through

    def wait(self) -> float | None:
        return None if self.window is None else self.window.seconds_left()


class LeakSerializer(serializers.Serializer[Any]):
    """One match GitHub found."""

    token = serializers.CharField(max_length=1000, trim_whitespace=False)
    type = serializers.CharField(max_length=200, help_text="The token type registered with GitHub.")
    url = serializers.CharField(
        required=False, allow_blank=True, help_text="Where GitHub found the token."
    )
    # Fields named as DRF names a field's attributes: the metaclass takes them out of the class.
    source = serializers.CharField(  # type: ignore[assignment]
        required=False, allow_blank=True, help_text="content, commit, pull_request_title, ..."
    )


class VerdictSerializer(serializers.Serializer[Any]):
    """What this service says of one reported token."""

    token_hash = serializers.CharField(help_text="SHA-256 hex digest of the token.")
    token_type = serializers.CharField()
    label = serializers.ChoiceField(  # type: ignore[assignment]
        choices=[TRUE_POSITIVE, FALSE_POSITIVE],
        help_text="true_positive: one of this service's keys, now revoked; false_positive: not.",
    )


class ReportView(APIView):
    """POST: GitHub's secret scanning reports leaked keys, which are revoked at once."""

    authentication_classes = []  # signed by GitHub, not keyed
    permission_classes = [AllowAny]
    throttle_classes = [ReportThrottle]

    @extend_schema(
        operation_id="secret_scanning_github_report",
        summary="Report leaked keys (GitHub secret scanning)",
        request=LeakSerializer(many=True),
        responses={
            200: VerdictSerializer(many=True),
            403: OpenApiResponse(description="No signature, or not one of GitHub's keys."),
            413: OpenApiResponse(description=f"A body over {MAX_BODY_BYTES} bytes."),
            429: OpenApiResponse(description="Too many reports from this address."),
            503: OpenApiResponse(description="GitHub's public keys cannot be read now."),
        },
        auth=[],
    )
    @sensitive_variables()
    def post(self, request: Request) -> Response:
        body = self.read_body(request)
        verify_report(request, body)
        serializer: serializers.ListSerializer[Any] = serializers.ListSerializer(
            child=LeakSerializer(), data=load_json(body), max_length=MAX_TOKENS
        )
        serializer.is_valid(raise_exception=True)
        return Response(self.revoke_reported(request, serializer.validated_data))

    def read_body(self, request: Request) -> bytes:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:  # Django would fail reading the body: say so first
            raise ParseError("The Content-Length header is not a number.") from None
        if length > MAX_BODY_BYTES:
            raise ReportTooLarge
        try:
            body: bytes = request.body
        except RequestDataTooBig:  # DATA_UPLOAD_MAX_MEMORY_SIZE is set below MAX_BODY_BYTES
            raise ReportTooLarge from None
        if len(body) > MAX_BODY_BYTES:
            raise ReportTooLarge
        return body

    @sensitive_variables()
    def revoke_reported(
        self, request: Request, leaks: Iterable[dict[str, str]]
    ) -> list[dict[str, str]]:
        """Revoke the live keys among `leaks`; GitHub's answer, in the report's order."""
        answer = []
        with acting_as("leak_report", "github", address=client_address(request)):
            for leak in leaks:
                api_key = find_key(leak["token"])
                if api_key is not None and not api_key.revoked:
                    revoke_leaked(api_key)
                label = FALSE_POSITIVE if api_key is None else TRUE_POSITIVE
                hashed = token_hash(leak["token"])
                answer.append({"token_hash": hashed, "token_type": leak["type"], "label": label})
        return answer


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON (or not UTF-8); nested past Python's limit
        raise ParseError("The body is not JSON.") from None
