"""The sample API as a client sees it."""

from datetime import timedelta
from unittest import mock

import pytest
from django.db import IntegrityError, InterfaceError, OperationalError
from django.test import override_settings
from django.urls import path
from django.utils import timezone
from rest_framework.views import APIView

from ..views import server_error

pytestmark = pytest.mark.django_db


def test_whoami_describes_the_calling_key(keyed_client, api_key):
    api_key_object, key = api_key
    response = keyed_client.get("/api/v1/whoami/")
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "name": "test client",
        "lookup_id": api_key_object.lookup_id,
        "created": body["created"],
        "expiry_date": None,
    }
    assert key not in response.content.decode()


def test_whoami_shows_the_expiry(api_client):
    from ...api_keys.models import APIKey

    expiry = timezone.now() + timedelta(days=3)
    _, key = APIKey.objects.create_key(name="temp", expiry_date=expiry)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    expires = api_client.get("/api/v1/whoami/").json()["expiry_date"]
    assert expires.startswith(expiry.strftime("%Y-%m-%dT%H:%M:%S"))


def test_api_responses_are_not_cached(keyed_client, api_client):
    assert keyed_client.get("/api/v1/whoami/")["Cache-Control"] == "no-store"
    assert api_client.get("/api/v1/whoami/")["Cache-Control"] == "no-store"


def test_healthz_is_open(api_client):
    response = api_client.get("/healthz/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_ignores_a_bad_key(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Api-Key broken")
    assert api_client.get("/healthz/").status_code == 200


def test_errors_share_one_json_shape(api_client, settings):
    settings.DEBUG = False
    for response in (api_client.get("/api/v1/whoami/"), api_client.get("/api/v1/nope/")):
        error = response.json()["error"]
        assert set(error) == {"code", "message"}
    assert api_client.get("/api/v1/nope/").status_code == 404


def test_method_not_allowed_keeps_the_shape(keyed_client):
    response = keyed_client.post("/api/v1/whoami/", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_database_outage_answers_503_not_500_and_logs_the_cause(keyed_client, caplog):
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute",
        side_effect=OperationalError("disk I/O error"),
    ):
        response = keyed_client.get("/api/v1/whoami/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert "disk I/O error" not in response.content.decode()
    [logged] = [record for record in caplog.records if record.name.endswith("api.exceptions")]
    assert logged.levelname == "ERROR"
    assert logged.getMessage() == "Database error in WhoAmIView, answered 503"
    assert logged.exc_info is not None
    assert str(logged.exc_info[1]) == "disk I/O error"


def test_the_root_says_where_to_go(api_client, settings):
    assert api_client.get("/").json() == {
        "whoami": "/api/v1/whoami/",
        "keys": "/api/v1/keys/",
        "health": "/healthz/",
        "schema": "/api/schema/",
        "docs": "/api/docs/",
    }
    settings.API_DOCS = False
    assert set(api_client.get("/").json()) == {"whoami", "keys", "health"}


def test_a_host_the_server_does_not_answer_for_gets_the_json_error_shape(api_client, settings):
    settings.DEBUG = False
    response = api_client.get("/api/v1/whoami/", HTTP_HOST="attacker.example")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == {
        "code": "disallowed_host",
        "message": "The Host header names a host this server does not answer for.",
    }


class BuggyView(APIView):
    """A view with a bug: it breaks a database constraint."""

    def get(self, request):
        raise IntegrityError("UNIQUE constraint failed: orders.number")


urlpatterns = [path("buggy/", BuggyView.as_view())]
handler500 = server_error  # as config/urls.py sets it


@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_a_database_error_that_is_a_bug_answers_500_and_is_logged(keyed_client, caplog):
    keyed_client.raise_request_exception = False
    response = keyed_client.get("/buggy/")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "server_error", "message": "Internal server error."}
    }
    assert "Retry-After" not in response
    [logged] = [record for record in caplog.records if record.name == "django.request"]
    assert logged.levelname == "ERROR"
    assert logged.exc_info is not None
    assert isinstance(logged.exc_info[1], IntegrityError)


def test_a_lost_connection_is_an_outage(keyed_client):
    with mock.patch(
        "django.db.backends.utils.CursorWrapper.execute",
        side_effect=InterfaceError("connection already closed"),
    ):
        response = keyed_client.get("/api/v1/whoami/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
