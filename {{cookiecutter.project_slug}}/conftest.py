"""Fixtures shared by the whole test suite."""

from collections.abc import Callable
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from {{ cookiecutter.project_slug }}.api_keys.cache import verification_cache
from {{ cookiecutter.project_slug }}.api_keys.models import APIKey


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test starts with no remembered keys and no throttle counts."""
    verification_cache.clear()
    cache.clear()


@pytest.fixture
def api_keys_options(settings: Any) -> Callable[..., None]:
    """Change some API_KEYS entries for one test, keeping the others."""

    def configure(**entries: Any) -> None:
        settings.API_KEYS = {**settings.API_KEYS, **entries}

    return configure


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
