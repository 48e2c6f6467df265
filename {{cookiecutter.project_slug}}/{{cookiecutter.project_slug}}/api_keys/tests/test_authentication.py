"""Each way a request can present a key, and the answer it gets."""

import hmac
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.test import override_settings
from django.urls import path
from django.utils import timezone
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import fast_lookup, keys, usage, verification
from ..keys import KeyGenerator, checksum
from ..models import APIKey
from ..permissions import HasAPIKey, KeyParser

pytestmark = pytest.mark.django_db
WHOAMI = "/api/v1/whoami/"


def assert_401(response, code):
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.json()["error"]["code"] == code


def test_valid_key_sets_request_auth_and_leaves_the_user_anonymous(keyed_client, api_key):
    seen = {}

    class Spy(APIView):
        def get(self, request):
            seen["auth"], seen["user"] = request.auth, request.user
            return Response({})

    with override_settings(ROOT_URLCONF=(path("spy/", Spy.as_view()),)):
        assert keyed_client.get("/spy/").status_code == 200
    assert seen["auth"] == api_key[0]
    assert isinstance(seen["user"], AnonymousUser)


def test_missing_key_gets_401(api_client):
    assert_401(api_client.get(WHOAMI), "not_authenticated")


def test_other_authorization_scheme_gets_401(api_client, api_key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    assert_401(api_client.get(WHOAMI), "not_authenticated")


def test_keyword_is_case_insensitive(api_client, api_key):
    api_client.credentials(HTTP_AUTHORIZATION=f"api-key {api_key[1]}")
    assert api_client.get(WHOAMI).status_code == 200


def test_malformed_key_gets_401(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key not-a-key")
    assert_401(api_client.get(WHOAMI), "malformed_api_key")


def test_bad_checksum_gets_401_without_a_query(api_client, api_key, django_assert_num_queries):
    key = api_key[1]
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key[:-1]}{'A' if key[-1] != 'A' else 'B'}")
    with django_assert_num_queries(0):
        assert_401(api_client.get(WHOAMI), "malformed_api_key")


def test_unknown_key_gets_401(api_client):
    unknown_key, _, _ = KeyGenerator().generate()
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {unknown_key}")
    assert_401(api_client.get(WHOAMI), "invalid_api_key")


def test_wrong_secret_with_a_known_lookup_id_gets_401(api_client, api_key):
    api_key_object = api_key[0]
    forged, _, _ = KeyGenerator().generate()
    forged_body = f"{forged.split('_')[0]}_{api_key_object.lookup_id}_{forged.split('_')[2][:32]}"
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {forged_body}{checksum(forged_body)}")
    assert_401(api_client.get(WHOAMI), "invalid_api_key")


def forge(lookup_id):
    """A well-formed key (good checksum) for `lookup_id` with a secret nobody issued."""
    body = f"{KeyGenerator().brand}_{lookup_id}_{'x' * 32}"
    return body + checksum(body)


def test_unknown_lookup_id_takes_the_path_of_a_wrong_secret(
    api_client, api_key, django_assert_num_queries
):
    """No early return tells an unknown lookup id from a wrong secret: same queries, same hash."""
    paths = []
    for presented in (forge("unknownABCDE"), forge(api_key[0].lookup_id)):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {presented}")
        spy = mock.patch.object(KeyGenerator, "verify_secret", autospec=True, return_value=False)
        with spy as verify_secret, django_assert_num_queries(1) as queries:
            response = api_client.get(WHOAMI)
        paths.append((response.content, verify_secret.call_count, len(queries)))
    assert paths[0] == paths[1]
    assert paths[0][1] == 1


def test_digests_are_compared_in_constant_time(api_key):
    with mock.patch.object(hmac, "compare_digest", wraps=hmac.compare_digest) as compare:
        assert APIKey.objects.is_valid(api_key[1])
    assert compare.call_count >= 2  # the checksum and the digest


def test_an_oversized_header_is_refused_before_any_hashing_or_query(
    api_client, django_assert_num_queries
):
    huge = "A" * 100_000
    with (
        mock.patch.object(KeyGenerator, "hash_secret", autospec=True) as hash_,
        mock.patch.object(keys, "_key_pattern") as key_pattern,
        django_assert_num_queries(0),
    ):
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {huge}")
        response = api_client.get(WHOAMI)
    assert response.status_code == 401
    assert huge not in response.content.decode()
    assert hash_.call_count == 0
    assert key_pattern.call_count == 0


def test_revoked_key_gets_401(api_client, api_key):
    api_key[0].revoke()
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    assert_401(api_client.get(WHOAMI), "invalid_api_key")


def test_expired_key_gets_401(api_client):
    expiry = timezone.now() - timedelta(minutes=1)
    _, key = APIKey.objects.create_key(name="old", expiry_date=expiry)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert_401(api_client.get(WHOAMI), "expired_api_key")


class DenyAll(BasePermission):
    def has_permission(self, request, view):
        return False


class Refusing(APIView):
    permission_classes = [HasAPIKey, DenyAll]

    def get(self, request):
        return Response({})


@override_settings(ROOT_URLCONF=(path("refusing/", Refusing.as_view()),))
def test_valid_key_refused_by_another_permission_gets_403_not_401(keyed_client):
    assert keyed_client.get("/refusing/").status_code == 403
    keyed_client.credentials()
    assert keyed_client.get("/refusing/").status_code == 401


class KeyOnly(APIView):
    """HasAPIKey on its own beside DRF's session authentication, as djangorestframework-api-key."""

    authentication_classes = [SessionAuthentication]
    permission_classes = [HasAPIKey]

    def get(self, request):
        return Response({"ok": True})


@override_settings(ROOT_URLCONF=(path("key-only/", KeyOnly.as_view()),))
def test_has_api_key_works_without_the_authentication_class(api_client, api_key):
    assert api_client.get("/key-only/").status_code == 403  # SessionAuthentication has no header
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    assert api_client.get("/key-only/").status_code == 200


def test_has_api_key_does_not_verify_a_second_time(
    keyed_client, django_assert_num_queries, monkeypatch
):
    verify_secret = mock.patch.object(
        KeyGenerator, "verify_secret", autospec=True, return_value=True
    )
    monkeypatch.setattr(usage, "_next_move", float("inf"))  # no usage moved by this request
    # One query finds the key, one records its first use; nothing verifies it again.
    with verify_secret as spy, django_assert_num_queries(2):
        assert keyed_client.get(WHOAMI).status_code == 200
    assert spy.call_count == 1


def test_has_api_key_alone_verifies_once_per_request(api_key):
    request = HttpRequest()
    request.META["HTTP_AUTHORIZATION"] = f"Api-Key {api_key[1]}"
    find_usable_key = mock.patch.object(
        verification, "find_usable_key", wraps=fast_lookup.find_usable_key
    )
    with find_usable_key as spy:
        permission = HasAPIKey()
        assert permission.has_permission(request, None)  # type: ignore[arg-type]
        assert permission.has_object_permission(request, None, object())  # type: ignore[arg-type]
    assert spy.call_count == 1


@override_settings(API_KEY_CUSTOM_HEADER="HTTP_X_API_KEY")
def test_custom_header_setting_of_djangorestframework_api_key(api_client, api_key):
    assert api_client.get(WHOAMI, HTTP_X_API_KEY=api_key[1]).status_code == 200
    assert api_client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}").status_code == 401


@override_settings(API_KEYS={"BRAND": "myapi", "HEADER": "HTTP_X_CLIENT_KEY", "KEYWORD": "Key"})
def test_header_from_api_keys_setting(api_client):
    _, key = APIKey.objects.create_key(name="custom")
    assert api_client.get(WHOAMI, HTTP_X_CLIENT_KEY=key).status_code == 200


@override_settings(API_KEYS={"KEYWORD": "Key"})
def test_keyword_from_settings(api_client):
    _, key = APIKey.objects.create_key(name="custom")
    assert api_client.get(WHOAMI, HTTP_AUTHORIZATION=f"Key {key}").status_code == 200
    response = api_client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Key"


def test_key_parser_keyword_reads_as_djangorestframework_api_key_s():
    assert KeyParser.keyword == "Api-Key"
    assert KeyParser().keyword == "Api-Key"
    assert KeyParser().get_keyword() == "Api-Key"


@override_settings(API_KEYS={"KEYWORD": "Key"})
def test_key_parser_keyword_follows_the_setting():
    assert KeyParser.keyword == "Key"
    assert KeyParser().get_keyword() == "Key"


@override_settings(API_KEYS={"KEYWORD": "Key"})
def test_a_keyword_set_on_a_subclass_or_an_instance_wins_over_the_setting():
    class BearerKeyParser(KeyParser):
        keyword = "Bearer"

    assert BearerKeyParser.keyword == "Bearer"
    assert BearerKeyParser().get_keyword() == "Bearer"
    parser = KeyParser()
    parser.keyword = "Token"
    assert parser.get_keyword() == "Token"
    assert KeyParser().get_keyword() == "Key"
    request = HttpRequest()
    request.META["HTTP_AUTHORIZATION"] = "token abc"
    assert parser.get(request) == "abc"
    assert KeyParser().get(request) is None


def test_a_keyword_of_none_means_the_setting():
    class SettingsKeyParser(KeyParser):  # as this app's KeyParser once read it
        keyword = None  # type: ignore[assignment]

    assert SettingsKeyParser().get_keyword() == "Api-Key"


class ComparedKeyParser(KeyParser):
    """A parser with __eq__ and so no hash, as a dataclass would be: the key it reads cannot be
    kept by parser for the rest of the request, and is read again instead."""

    def __eq__(self, other):
        return isinstance(other, ComparedKeyParser)

    __hash__ = None  # type: ignore[assignment]


class HasAPIKeyByComparedParser(HasAPIKey):
    key_parser = ComparedKeyParser()


def test_a_permission_whose_parser_cannot_be_hashed_still_works(api_client, api_key):
    class Guarded(APIView):
        permission_classes = [HasAPIKeyByComparedParser]

        def get(self, request):
            return Response({"lookup_id": request.auth.lookup_id})

    with override_settings(ROOT_URLCONF=(path("guarded/", Guarded.as_view()),)):
        assert_401(api_client.get("/guarded/"), "not_authenticated")
        api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
        response = api_client.get("/guarded/")
    assert response.status_code == 200
    assert response.json() == {"lookup_id": api_key[0].lookup_id}


class HeaderParser:
    """A parser as djangorestframework-api-key's guide writes one: a plain class with `get`."""

    def get(self, request):
        return request.META.get("HTTP_X_API_KEY")


class TokenParser:
    """A plain class with `get` and a `keyword`, not a KeyParser subclass."""

    keyword = "Token"

    def get(self, request):
        scheme, _, key = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        return key if scheme == self.keyword else None


AS_TOKEN = ("HTTP_AUTHORIZATION", "Token ")


@pytest.mark.parametrize(
    ("parser", "sent_as", "challenge"),
    [(HeaderParser(), ("HTTP_X_API_KEY", ""), "Api-Key"), (TokenParser(), AS_TOKEN, "Token")],
    ids=["get-only", "with-keyword"],
)
def test_a_parser_with_only_get_works_and_gets_a_challenge(
    api_client, api_key, parser, sent_as, challenge
):
    class HasAPIKeyByParser(HasAPIKey):
        key_parser = parser

    class Guarded(APIView):
        permission_classes = [HasAPIKeyByParser]

        def get(self, request):
            return Response({"lookup_id": request.auth.lookup_id})

    header, prefix = sent_as
    with override_settings(ROOT_URLCONF=(path("guarded/", Guarded.as_view()),)):
        unread = api_client.get("/guarded/", HTTP_AUTHORIZATION="Bearer not-read-here")
        missing = api_client.get("/guarded/")
        refused = api_client.get("/guarded/", **{header: f"{prefix}{api_key[1]}x"})
        accepted = api_client.get("/guarded/", **{header: f"{prefix}{api_key[1]}"})
    for response in (unread, missing, refused):
        assert response.status_code == 401
        assert response["WWW-Authenticate"] == challenge
    assert accepted.status_code == 200
    assert accepted.json() == {"lookup_id": api_key[0].lookup_id}
