"""The OpenAPI schema: valid, and it tells clients how to send their key and which scopes."""

import json

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.urls import include, path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from drf_spectacular.validation import validate_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ...api_keys.authentication import APIKeyAuthentication
from ...api_keys.models import APIKey
from ...api_keys.permissions import HasAPIKey

pytestmark = pytest.mark.django_db


class PartnerKeyAuthentication(APIKeyAuthentication):
    """A subclass, e.g. with another model or parser: a scheme of its own."""


class OrderSerializer(serializers.Serializer):
    item = serializers.CharField()


class OrdersView(GenericAPIView):
    """Reads with one scope, writes with another, and validates what it is sent."""

    required_scopes = {"GET": ["orders:read"], "POST": ["orders:write"]}
    serializer_class = OrderSerializer

    def get(self, request: Request) -> Response:
        return Response({"item": "tea"})

    def post(self, request: Request) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(serializer.data, status=201)


class ScopedView(APIView):
    required_scopes = ["reports:read"]

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        """GET: nothing but a 200."""
        return Response({})


urlpatterns = [
    path(
        "partner/",
        ScopedView.as_view(authentication_classes=[PartnerKeyAuthentication, APIKeyAuthentication]),
    ),
    path("open-but-keyed/", ScopedView.as_view(permission_classes=[AllowAny])),
    path("key-or-login/", ScopedView.as_view(permission_classes=[HasAPIKey | IsAuthenticated])),
    path("orders/", OrdersView.as_view()),
    path("", include("config.urls")),
]


@pytest.fixture
def schema(api_client):
    response = api_client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3_1(schema):
    assert schema["openapi"].startswith("3.1")
    validate_schema(schema)


def test_nullable_is_spelled_the_openapi_3_1_way(schema):
    assert '"nullable"' not in json.dumps(schema)
    page = schema["components"]["schemas"]["PaginatedAPIKeyList"]["properties"]
    assert page["next"]["type"] == page["previous"]["type"] == ["string", "null"]


def test_schema_generation_gives_no_warning():
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_schema_describes_the_api_key_header(schema):
    scheme = schema["components"]["securitySchemes"]["ApiKeyAuth"]
    assert scheme["type"] == "apiKey"
    assert scheme["in"] == "header"
    assert scheme["name"] == "Authorization"
    assert "Api-Key <key>" in scheme["description"]


def test_protected_operations_require_the_key_with_their_scopes(schema):
    assert schema["paths"]["/api/v1/whoami/"]["get"]["security"] == [{"ApiKeyAuth": []}]
    assert schema["paths"]["/api/v1/keys/"]["get"]["security"] == [{"ApiKeyAuth": ["keys:read"]}]
    responses = schema["paths"]["/api/v1/whoami/"]["get"]["responses"]
    assert {"200", "401", "403", "429", "503"} <= set(responses)


def test_counted_answers_document_the_ratelimit_headers(schema):
    responses = schema["paths"]["/api/v1/whoami/"]["get"]["responses"]
    limits = {
        "RateLimit-Policy": {"$ref": "#/components/headers/RateLimit-Policy"},
        "RateLimit": {"$ref": "#/components/headers/RateLimit"},
    }
    no_store = {"Cache-Control": {"$ref": "#/components/headers/Cache-Control"}}
    assert responses["200"]["headers"] == limits | no_store
    assert responses["429"]["headers"] == limits
    assert "headers" not in responses["401"]
    assert set(schema["components"]["headers"]) == {
        "RateLimit-Policy",
        "RateLimit",
        "Cache-Control",
    }
    assert "quota_exceeded" in responses["429"]["description"]
    assert "ip_not_allowed" in responses["403"]["description"]
    healthz = schema["paths"]["/healthz/"]["get"]["responses"]["200"]
    assert healthz["headers"] == no_store


def test_the_usage_report_is_described(schema):
    operation = schema["paths"]["/api/v1/keys/{lookup_id}/usage/"]["get"]
    assert operation["security"] == [{"ApiKeyAuth": ["keys:read"]}]
    query = {param["name"] for param in operation["parameters"] if param["in"] == "query"}
    assert query == {"by", "since", "until"}
    assert {"200", "400", "401", "403", "404", "429"} <= set(operation["responses"])
    report = operation["responses"]["200"]["content"]["application/json"]["schema"]
    fields = schema["components"]["schemas"][report["$ref"].rsplit("/", 1)[1]]["properties"]
    assert set(fields) == {"lookup_id", "by", "since", "until", "totals", "counts"}


def test_managing_keys_is_described_with_its_scopes_and_answers(schema):
    def operation(under, method):
        return schema["paths"][f"/api/v1/keys/{under}"][method]

    def fields_of(response):
        reference = response["content"]["application/json"]["schema"]["$ref"]
        return schema["components"]["schemas"][reference.rsplit("/", 1)[1]]["properties"]

    expected = {
        ("", "get"): ("keys:read", {"200", "401", "403", "404", "429"}),
        ("", "post"): ("keys:write", {"201", "400", "401", "403", "409", "429"}),
        ("{lookup_id}/", "get"): ("keys:read", {"200", "401", "403", "404", "429"}),
        ("{lookup_id}/", "delete"): ("keys:write", {"204", "401", "403", "404", "429"}),
        ("{lookup_id}/rotate/", "post"): ("keys:write", {"201", "400", "404", "409", "429"}),
    }
    for (under, method), (scope, statuses) in expected.items():
        described = operation(under, method)
        assert described["security"] == [{"ApiKeyAuth": [scope]}], (under, method)
        assert statuses <= set(described["responses"]), (under, method)
    for under in ("", "{lookup_id}/rotate/"):
        created = operation(under, "post")["responses"]["201"]
        assert {"key", "lookup_id", "parent", "scopes"} <= set(fields_of(created))
        assert created["headers"]["Cache-Control"] == {"$ref": "#/components/headers/Cache-Control"}
    conflict = operation("{lookup_id}/rotate/", "post")["responses"]["409"]
    assert conflict["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "child_key" in operation("", "post")["responses"]["403"]["description"]


def test_open_operations_require_nothing(schema):
    healthz = schema["paths"]["/healthz/"]["get"]
    assert healthz.get("security", [{}]) == [{}]
    assert "401" not in healthz["responses"]


def test_custom_header_is_described(api_client, api_keys_options):
    api_keys_options(HEADER="HTTP_X_API_KEY")
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "X-Api-Key"


def test_swagger_ui_and_the_schema_only_where_turned_on(api_client, settings):
    settings.API_DOCS = False
    assert api_client.get("/api/docs/").status_code == 404
    hidden = api_client.get("/api/schema/", {"format": "json"})
    assert hidden.status_code == 404
    assert hidden.json()["error"]["code"] == "not_found"
    settings.API_DOCS = True
    response = api_client.get("/api/docs/")
    assert response.status_code == 200
    assert "swagger" in response.content.decode().lower()


@override_settings(ROOT_URLCONF=__name__)
def test_each_authentication_subclass_is_a_scheme_of_its_own_without_warnings(api_client):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    assert {"ApiKeyAuth", "PartnerKeyAuthentication"} <= set(
        schema["components"]["securitySchemes"]
    )
    security = schema["paths"]["/partner/"]["get"]["security"]
    assert security == [
        {"PartnerKeyAuthentication": ["reports:read"]},
        {"ApiKeyAuth": ["reports:read"]},
    ]


@override_settings(ROOT_URLCONF=__name__)
def test_scopes_are_listed_only_where_a_key_permission_enforces_them(api_client):
    paths = api_client.get("/api/schema/", {"format": "json"}).json()["paths"]
    assert paths["/open-but-keyed/"]["get"]["security"][0] == {"ApiKeyAuth": []}
    assert paths["/key-or-login/"]["get"]["security"] == [
        {"ApiKeyAuth": ["reports:read"]},
        {"cookieAuth": []},
    ]
    # A view that needs a key does not offer the session cookie.
    assert paths["/api/v1/whoami/"]["get"]["security"] == [{"ApiKeyAuth": []}]


@override_settings(ROOT_URLCONF=__name__)
def test_scopes_by_method_are_listed_per_operation(api_client):
    orders = api_client.get("/api/schema/", {"format": "json"}).json()["paths"]["/orders/"]
    assert orders["get"]["security"] == [{"ApiKeyAuth": ["orders:read"]}]
    assert orders["post"]["security"] == [{"ApiKeyAuth": ["orders:write"]}]


@override_settings(ROOT_URLCONF=__name__)
def test_operations_that_take_a_body_document_the_400_they_give(api_client):
    orders = api_client.get("/api/schema/", {"format": "json"}).json()["paths"]["/orders/"]
    documented = orders["post"]["responses"]["400"]
    assert documented["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }
    assert "400" not in orders["get"]["responses"]
    _, key = APIKey.objects.create_key(name="writer", scopes=["orders:write"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    answer = api_client.post("/orders/", {}, format="json")
    assert answer.status_code == 400
    assert answer.json()["error"]["fields"] == {"item": ["This field is required."]}
