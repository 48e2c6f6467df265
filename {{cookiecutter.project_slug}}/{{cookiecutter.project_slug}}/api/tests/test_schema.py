"""The OpenAPI schema: valid, and it tells clients how to send their key and which scopes."""

import json

import pytest
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db


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


def test_open_operations_require_nothing(schema):
    healthz = schema["paths"]["/healthz/"]["get"]
    assert healthz.get("security", [{}]) == [{}]
    assert "401" not in healthz["responses"]


def test_custom_header_is_described(api_client, api_keys_options):
    api_keys_options(HEADER="HTTP_X_API_KEY")
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["name"] == "X-Api-Key"


def test_swagger_ui_only_where_turned_on(api_client, settings):
    settings.API_DOCS = False
    assert api_client.get("/api/docs/").status_code == 404
    settings.API_DOCS = True
    response = api_client.get("/api/docs/")
    assert response.status_code == 200
    assert "swagger" in response.content.decode().lower()
