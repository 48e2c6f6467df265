"""A plaintext key appears once, in the answer that creates it: never in rows, cookies or pages."""

from io import StringIO
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection

from {{ cookiecutter.project_slug }}.api_keys import verification
from {{ cookiecutter.project_slug }}.api_keys.models import APIKey

pytestmark = pytest.mark.django_db


def every_row_as_text() -> str:
    dump: list[str] = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            dump.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(dump)


def test_keys_made_every_way_leave_no_trace(client, caplog):
    caplog.set_level("DEBUG")
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    answer = client.post("/admin/api_keys/apikey/add/", {"name": "from admin", "scopes": ""})
    keys = [answer.context["key"]]
    keys.append(APIKey.objects.create_key(name="from code")[1])
    stdout = StringIO()
    call_command("createapikey", "--name", "from command", stdout=stdout, stderr=StringIO())
    keys.append(stdout.getvalue().strip())
    for key in keys:
        assert client.get("/api/v1/whoami/", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code == 200

    urls = ["/admin/api_keys/apikey/", "/admin/", "/admin/admin/logentry/"]
    urls += [f"/admin/api_keys/apikey/{api_key.pk}/change/" for api_key in APIKey.objects.all()]
    pages = [client.get(url).content.decode() for url in urls]
    rows = every_row_as_text()
    cookies = " ".join(morsel.OutputString() for morsel in client.cookies.values())
    cookies += " ".join(morsel.OutputString() for morsel in answer.cookies.values())
    logs = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    for key in keys:
        secret = key.rsplit("_", 1)[1][:32]
        places = [("rows", rows), ("cookies", cookies), ("logs", logs)]
        for place, text in places + [("page", page) for page in pages]:
            assert key not in text, place
            assert secret not in text, place
    assert sum(key in answer.content.decode() for key in keys) == 1  # the page that showed it once


def test_the_debug_error_page_does_not_show_the_key(client, api_key, settings):
    """A server error while a key is checked, with DEBUG on: Django's technical 500 page lists
    every frame's variables and the request's headers, but never the key."""
    _, key = api_key
    settings.DEBUG = True
    client.raise_request_exception = False
    failure = RuntimeError("the disk is on fire")
    with mock.patch.object(verification, "find_usable_key", side_effect=failure):
        page = client.get("/api/v1/whoami/", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert page.status_code == 500
    text = page.content.decode()
    assert "the disk is on fire" in text  # it is the technical page, with its frames
    assert "verify_key" in text
    assert key not in text
    assert key.rsplit("_", 1)[1][:32] not in text  # nor the secret alone
