"""GET /api/v1/keys/: the sample endpoint that needs a scope, and lists the caller's own keys."""

import base64

import pytest

from ...api_keys.models import APIKey

pytestmark = pytest.mark.django_db
URL = "/api/v1/keys/"


def client_with(api_client, scopes):
    _, key = APIKey.objects.create_key(name=f"scopes {scopes}", scopes=scopes)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client, key


def test_a_key_with_the_scope_lists_its_own_keys_without_secrets(api_client):
    client, key = client_with(api_client, ["keys:read"])
    caller = APIKey.objects.get_from_key(key)
    child, child_key = APIKey.objects.create_key(name="child", parent=caller)
    APIKey.objects.create_key(name="another client's")
    response = client.get(URL)
    assert response.status_code == 200
    names = [row["name"] for row in response.json()["results"]]
    assert names == ["child", "scopes ['keys:read']"]
    body = response.content.decode()
    for secret in (key, child_key, child.hashed_key, caller.hashed_key):
        assert secret not in body


def test_a_valid_key_without_the_scope_gets_403_naming_it(api_client):
    client, _ = client_with(api_client, ["other:scope"])
    response = client.get(URL)
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "missing_scope",
        "message": "This API key lacks the scope(s): keys:read.",
    }


def test_no_key_gets_401_not_403(api_client):
    response = api_client.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"


def test_whoami_needs_no_scope(keyed_client):
    assert keyed_client.get("/api/v1/whoami/").status_code == 200


def test_an_unknown_cursor_gets_the_documented_404(api_client):
    client, _ = client_with(api_client, ["keys:read"])
    response = client.get(URL, {"cursor": "not-a-cursor-we-gave"})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    schema = client.get("/api/schema/", {"format": "json"}).json()
    documented = schema["paths"][URL]["get"]["responses"]["404"]
    assert documented["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


@pytest.mark.parametrize(
    "forged",
    ["p=notadate", "p=9999-99-99T99:99:99", "o=5&p=%00", "o=1&r=1&p=2026-13-01 00:00:00+00:00"],
)
def test_a_forged_cursor_position_gets_404_not_500(api_client, forged):
    client, _ = client_with(api_client, ["keys:read"])
    cursor = base64.b64encode(forged.encode()).decode()
    response = client.get(URL, {"cursor": cursor})
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": "Invalid cursor"}


def test_a_cursor_the_api_gave_out_still_pages(api_client):
    client, key = client_with(api_client, ["keys:read"])
    caller = APIKey.objects.get_from_key(key)
    for number in range(60):
        APIKey.objects.create_key(name=f"key {number}", parent=caller)
    first = client.get(URL).json()
    second = client.get(first["next"]).json()
    assert len(first["results"]) == 50
    assert len(second["results"]) == 11
