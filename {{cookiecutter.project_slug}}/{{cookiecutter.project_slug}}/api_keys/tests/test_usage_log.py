"""Usage logs: one line per API request, naming the key, never revealing it."""

import logging
import re

import pytest
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from ..keys import checksum
from ..models import APIKey

pytestmark = pytest.mark.django_db
WHOAMI = "/api/v1/whoami/"


@pytest.fixture
def usage_records(caplog):
    """The records the usage logger writes during the test."""
    caplog.set_level(logging.INFO, logger="api_keys.usage")
    return lambda: [record for record in caplog.records if record.name == "api_keys.usage"]


def test_an_api_request_is_logged_with_the_key_s_lookup_id_and_name(
    keyed_client, api_key, usage_records
):
    assert keyed_client.get(WHOAMI).status_code == 200
    [record] = usage_records()
    lookup_id = api_key[0].lookup_id
    assert record.levelno == logging.INFO
    assert re.fullmatch(
        rf'GET /api/v1/whoami/ 200 \d+(\.\d)?ms key={lookup_id} name="test client"',
        record.getMessage(),
    )
    assert (record.method, record.path, record.status) == ("GET", WHOAMI, 200)
    assert (record.lookup_id, record.key_name) == (lookup_id, "test client")
    assert isinstance(record.duration_ms, float)
    assert record.duration_ms >= 0


@pytest.mark.parametrize(
    ("authorization", "error"),
    [
        (None, "not_authenticated"),
        ("Api-Key not-a-key", "malformed_api_key"),
        ("Bearer abc", "not_authenticated"),
    ],
)
def test_a_request_without_a_valid_key_is_logged_with_dashes_and_the_error(
    api_client, usage_records, authorization, error
):
    if authorization:
        api_client.credentials(HTTP_AUTHORIZATION=authorization)
    assert api_client.get(WHOAMI).status_code == 401
    [record] = usage_records()
    assert record.getMessage().endswith(f" key=- name=- error={error}")
    assert record.getMessage().startswith("GET /api/v1/whoami/ 401 ")
    assert (record.status, record.lookup_id, record.key_name) == (401, "-", "-")
    assert record.error == error


def test_a_key_refused_from_an_address_is_logged_with_its_lookup_id_never_the_key(
    api_client, usage_records
):
    api_key, key = APIKey.objects.create_key(name="pinned", allowed_ips=["203.0.113.0/24"])
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api_client.get(WHOAMI, REMOTE_ADDR="198.51.100.7").status_code == 403
    [record] = usage_records()
    assert record.getMessage().endswith(
        f' key={api_key.lookup_id} name="pinned" error=ip_not_allowed'
    )
    assert key not in repr(vars(record))
    assert key.split("_")[2][:32] not in repr(vars(record))


def test_a_refused_request_is_logged_once(api_client, caplog):
    caplog.set_level(logging.INFO, logger="api_keys.usage")
    assert api_client.get(WHOAMI).status_code == 401
    # Not a second time as django.request's "Unauthorized" warning: that logger is at ERROR.
    assert [record.name for record in caplog.records] == ["api_keys.usage"]


@pytest.mark.parametrize("header", [None, "HTTP_X_API_KEY"])
def test_no_log_record_holds_the_key_or_its_header(api_client, caplog, settings, header):
    settings.DEBUG = True  # SQL is logged too
    settings.API_KEYS = {**settings.API_KEYS, "HEADER": header, "THROTTLE_RATE": "2/min"}
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    api_key, key = APIKey.objects.create_key(name="partner")
    revoked, revoked_key = APIKey.objects.create_key(name="gone")
    revoked.revoke()
    body = f"{APIKey.objects.key_generator.brand}_{api_key.lookup_id}_{'z' * 32}"
    wrong_secret = body + checksum(body)
    mistyped = key[:-1] + ("A" if key[-1] != "A" else "B")
    header_name, prefix = (header, "") if header else ("HTTP_AUTHORIZATION", "Api-Key ")

    # 200, 200, 429 (over the rate), 401 revoked, 401 invalid, 401 malformed
    for presented in (key, key, key, revoked_key, wrong_secret, mistyped):
        api_client.get(WHOAMI, **{header_name: prefix + presented})

    usage = [record.status for record in caplog.records if record.name == "api_keys.usage"]
    assert usage == [200, 200, 429, 401, 401, 401]
    secrets = [key.split("_")[2][:32], revoked_key.split("_")[2][:32]]
    for record in caplog.records:
        logged = record.getMessage() + repr(vars(record))
        for secret in secrets:
            assert secret not in logged, record.name


def test_the_query_string_is_not_logged(api_client, api_key, usage_records):
    # Keys are not read from the query string, but a client may put one there by mistake.
    assert api_client.get(f"{WHOAMI}?api_key={api_key[1]}").status_code == 401
    [record] = usage_records()
    assert "?" not in record.getMessage()
    assert api_key[1] not in repr(vars(record))


def test_requests_outside_api_views_are_not_logged(client, api_client, usage_records):
    assert client.get("/admin/login/").status_code == 200
    assert api_client.get("/api/v1/no-such-endpoint/").status_code == 404
    assert usage_records() == []


class EchoView(APIView):
    def get(self, request, word):
        return Response({"word": word})


@override_settings(ROOT_URLCONF=(path("echo/<str:word>/", EchoView.as_view()),))
def test_a_path_or_a_key_name_cannot_break_the_log_line(api_client, usage_records):
    api_key, key = APIKey.objects.create_key(name="evil")
    # A name is printable text now; a row saved before that rule may still hold a line break.
    APIKey.objects.filter(pk=api_key.pk).update(name='evil"\nname')
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api_client.get("/echo/a%0Afake%20line/").status_code == 200
    [record] = usage_records()
    message = record.getMessage()
    assert "\n" not in message
    assert message.startswith("GET /echo/a%0Afake%20line/ 200 ")
    assert message.endswith(r'name="evil\"\nname"')
