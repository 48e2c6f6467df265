"""The PostgreSQL setup: a real server, persistent connections, constraints enforced by it."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, connection

from {{ cookiecutter.project_slug }}.api_keys.models import APIKey
from {{ cookiecutter.project_slug }}.api_keys.tests.manage_py import (
    assert_one_sentence,
    closed_port,
    manage_py,
)

pytestmark = pytest.mark.django_db


def test_the_database_is_postgresql():
    assert connection.vendor == "postgresql"


def test_connections_are_kept_open_and_checked_before_reuse():
    database = settings.DATABASES["default"]
    assert database["CONN_MAX_AGE"] > 0
    assert database["CONN_HEALTH_CHECKS"] is True


def test_the_server_refuses_a_duplicate_lookup_id():
    api_key, _ = APIKey.objects.create_key(name="first")
    with pytest.raises(IntegrityError):
        APIKey.objects.create(name="copy", lookup_id=api_key.lookup_id, hashed_key="sha256$x")


def test_keys_verify_against_the_server():
    _, key = APIKey.objects.create_key(name="billing")
    assert APIKey.objects.is_valid(key)


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_rotations_make_one_successor():
    """Both threads load the key, then rotate it at once: the row lock makes the second wait
    for the first to commit, then refuse, so there is one live successor, not two."""
    api_key, _ = APIKey.objects.create_key(name="rotated twice")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def rotate() -> None:
        try:
            mine = APIKey.objects.get(pk=api_key.pk)
            barrier.wait(timeout=10)
            mine.rotate(grace=timedelta(hours=1))
            outcomes.append("rotated")
        except ValueError as error:
            outcomes.append(str(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=rotate) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == [
        "This API key has been rotated already; rotate the key that replaced it.",
        "rotated",
    ]
    assert APIKey.objects.filter(rotated_from=api_key).count() == 1


@pytest.mark.parametrize(
    "arguments",
    [
        ["createapikey", "--name", "billing"],
        ["listapikeys"],
        ["revokeapikey", "abcdefghijkl"],
        ["rotateapikey", "abcdefghijkl"],
{%- if cookiecutter.from_djangorestframework_api_key == "yes" %}
        ["importapikeys"],
{%- endif %}
    ],
    ids=lambda arguments: arguments[0],
)
def test_a_command_with_the_server_unreachable_says_so_in_one_sentence(arguments):
    url = f"postgres://postgres@127.0.0.1:{closed_port()}/{{ cookiecutter.project_slug }}"
    result = manage_py(*arguments, DATABASE_URL=url)
    assert_one_sentence(
        result,
        "CommandError: The database cannot be reached (connection failed: ",
        "Connection refused); nothing was changed.",
    )
