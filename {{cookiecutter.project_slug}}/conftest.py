"""Fixtures shared by the whole test suite."""

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.test import APIClient

from {{ cookiecutter.project_slug }}.api_keys.models import APIKey


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    """Each test starts with an empty cache, so no throttle count carries over."""
    cache = caches["default"]
    if isinstance(cache, RedisCache):
        # Only this run's keys (test.py gives it its own KEY_PREFIX): other runs may share Redis.
        client = cache._cache.get_client(write=True)
        names = list(client.scan_iter(match=cache.make_key("*")))
        if names:
            client.delete(*names)
    else:
        cache.clear()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def api_key(db: None) -> tuple[APIKey, str]:
    """A fresh, usable key: (object, plaintext key)."""
    return APIKey.objects.create_key(name="test client")


@pytest.fixture
def keyed_client(api_client: APIClient, api_key: tuple[APIKey, str]) -> APIClient:
    """A client that sends the `api_key` fixture's key on every request."""
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {api_key[1]}")
    return api_client
