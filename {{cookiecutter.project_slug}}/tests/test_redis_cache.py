"""The Redis cache: one store shared by every process, which throttling relies on."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from {{ cookiecutter.project_slug }}.api_keys.models import APIKey

PROJECT = Path(__file__).resolve().parent.parent


def test_the_cache_is_redis():
    assert isinstance(caches["default"], RedisCache)


def test_a_value_written_by_another_process_is_seen_here():
    name, value = f"shared-{uuid.uuid4().hex}", uuid.uuid4().hex
    writer = (
        "import django; django.setup(); from django.core.cache import cache; "
        f"cache.set({name!r}, {value!r}, 60)"
    )
    subprocess.run(
        [sys.executable, "-c", writer],
        cwd=PROJECT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        check=True,
        timeout=60,
    )
    assert cache.get(name) == value
    cache.delete(name)


@pytest.mark.django_db
def test_a_key_revoked_by_another_process_is_refused_here_at_once():
    api_key, key = APIKey.objects.create_key(name="shared")
    assert APIKey.objects.is_valid(key)  # now remembered by this process
    # The other process revokes the key: the row changes (done here, as the test database is
    # this process's), and its save writes a new stamp to Redis (done there, for real).
    APIKey.objects.filter(pk=api_key.pk).update(revoked=True)
    forget = (
        "import django; django.setup(); "
        "from {{ cookiecutter.project_slug }}.api_keys.cache import verification_cache; "
        "from {{ cookiecutter.project_slug }}.api_keys.models import APIKey; "
        f"verification_cache.forget(APIKey(pk={api_key.pk}))"
    )
    subprocess.run(
        [sys.executable, "-c", forget],
        cwd=PROJECT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        check=True,
        timeout=60,
    )
    assert not APIKey.objects.is_valid(key)
