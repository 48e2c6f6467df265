"""The Redis cache: one store shared by every process, which throttling relies on."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

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
