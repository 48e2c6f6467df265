"""The PostgreSQL setup: a real server, persistent connections, constraints enforced by it."""

import pytest
from django.conf import settings
from django.db import IntegrityError, connection

from {{ cookiecutter.project_slug }}.api_keys.models import APIKey

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
