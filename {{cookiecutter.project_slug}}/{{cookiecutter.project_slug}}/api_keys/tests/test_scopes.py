"""Scopes as people type them: checked, sorted and stored once each."""

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from ..models import APIKey
from ..scopes import normalize_scopes, parse_scopes, scopes_for_method


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("  ,, ", []),
        ("orders:read", ["orders:read"]),
        ("orders:write orders:read", ["orders:read", "orders:write"]),
        ("b,a, c\td\n", ["a", "b", "c", "d"]),
        ("a a,a", ["a"]),
        ("reports.v2:export-all_x", ["reports.v2:export-all_x"]),
    ],
)
def test_scopes_are_split_on_spaces_and_commas_sorted_and_unique(text, expected):
    assert parse_scopes(text) == expected


@pytest.mark.parametrize("text", ["Orders:read", "orders/read", "orders;read", "écrire", "a*"])
def test_malformed_scopes_are_refused_by_name(text):
    with pytest.raises(ValueError, match="Not a valid scope") as error:
        parse_scopes(f"fine {text}")
    assert repr(text) in str(error.value)
    assert "'fine'" not in str(error.value)


def test_an_empty_scope_is_refused_when_given_on_its_own():
    with pytest.raises(ValueError, match="Not a valid scope: ''"):
        normalize_scopes(["orders:read", ""])


@pytest.mark.django_db
def test_keys_created_in_code_store_scopes_sorted_and_once_each():
    api_key, _ = APIKey.objects.create_key(name="code", scopes=["orders:write", "orders:read"] * 2)
    api_key.refresh_from_db()
    assert api_key.scopes == ["orders:read", "orders:write"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"scopes": ["Orders:Read"]}, "Not a valid scope: 'Orders:Read'"),
        ({"scopes": "orders:read"}, "Scopes are a list of strings"),
        ({"scopes": [7]}, "Scopes are a list of strings"),
        ({"throttle_rate": "fast"}, "is not a rate"),
    ],
)
def test_keys_created_in_code_with_bad_scopes_or_rate_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        APIKey.objects.create_key(name="typo", **fields)
    assert not APIKey.objects.exists()


class GrantsItselfAScope(APIView):
    """A careless view: it changes the key object of its own request, and saves nothing."""

    def get(self, request):
        request.auth.scopes.append("admin:all")
        return Response({})


class NeedsAdmin(APIView):
    required_scopes = ["admin:all"]

    def get(self, request):
        return Response({})


@pytest.mark.django_db
@override_settings(
    ROOT_URLCONF=(
        path("careless/", GrantsItselfAScope.as_view()),
        path("admin/", NeedsAdmin.as_view()),
    )
)
def test_a_change_to_one_request_s_key_object_never_reaches_another_request(keyed_client):
    """Each request reads its key from the database: no key object is shared between requests,
    on this thread or any other."""
    assert keyed_client.get("/careless/").status_code == 200
    assert keyed_client.get("/admin/").status_code == 403
    assert keyed_client.get("/careless/").status_code == 200
    assert keyed_client.get("/admin/").status_code == 403


class Orders(APIView):
    """Reads with one scope and writes with another."""

    required_scopes = {"GET": ["orders:read"], "POST": ["orders:write"]}

    def get(self, request):
        return Response({"orders": []})

    def post(self, request):
        return Response({"created": True}, status=201)

    def put(self, request):  # handled, but given no scopes: no key may use it
        return Response({})


def orders_client(api_client, scopes):
    _, key = APIKey.objects.create_key(name=f"orders {scopes}", scopes=scopes)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=(path("orders/", Orders.as_view()),))
def test_scopes_by_method_read_with_one_scope_and_write_with_another(api_client):
    reader = orders_client(api_client, ["orders:read"])
    assert reader.get("/orders/").status_code == 200
    assert reader.head("/orders/").status_code == 200  # HEAD reads GET's entry
    refused = reader.post("/orders/")
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "missing_scope",
        "message": "This API key lacks the scope(s): orders:write.",
    }
    writer = orders_client(api_client, ["orders:write"])
    assert writer.post("/orders/").status_code == 201
    assert writer.get("/orders/").status_code == 403


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=(path("orders/", Orders.as_view()),))
def test_a_method_the_dict_leaves_out_is_refused_to_every_key(api_client):
    client = orders_client(api_client, ["orders:read", "orders:write"])
    refused = client.put("/orders/")
    assert refused.status_code == 403
    assert refused.json()["error"] == {
        "code": "missing_scope",
        "message": "No API key may use PUT here.",
    }
    assert client.delete("/orders/").status_code == 405  # not handled at all: DRF's answer


@pytest.mark.parametrize(
    ("required", "method", "expected"),
    [
        (None, "GET", []),
        (["a", "b"], "POST", ["a", "b"]),
        ("orders:read", "GET", ["orders:read"]),
        ({"get": ["a"]}, "GET", ["a"]),
        ({"GET": ["a"]}, "HEAD", ["a"]),
        ({"GET": ["a"], "OPTIONS": []}, "OPTIONS", []),
        ({"GET": ["a"]}, "PATCH", None),
    ],
)
def test_the_scopes_a_method_needs(required, method, expected):
    assert scopes_for_method(required, method) == expected
