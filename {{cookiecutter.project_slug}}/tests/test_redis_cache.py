"""The Redis cache: one store shared by every process, which throttling relies on."""

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from redis.connection import AbstractConnection

from {{ cookiecutter.project_slug }}.api_keys import rates, usage
from {{ cookiecutter.project_slug }}.api_keys.models import APIKey
from {{ cookiecutter.project_slug }}.api_keys.tests.manage_py import (
    closed_port,
    manage_py,
    migrate_sqlite,
)
from {{ cookiecutter.project_slug }}.api_keys.throttling import APIKeyRateThrottle

PROJECT = Path(__file__).resolve().parent.parent


def run_in_another_process(code: str) -> str:
    """Run `code` in a new Python process with the test settings; return its output."""
    result = subprocess.run(
        [sys.executable, "-c", "import django\ndjango.setup()\n" + code],
        cwd=PROJECT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout


def redis_client():
    """The cache's own redis-py client."""
    redis = caches["default"]
    assert isinstance(redis, RedisCache)
    return redis._cache.get_client(write=True)


def test_the_cache_is_redis():
    assert isinstance(caches["default"], RedisCache)


def test_a_value_written_by_another_process_is_seen_here():
    name, value = f"shared-{uuid.uuid4().hex}", uuid.uuid4().hex
    run_in_another_process(
        f"from django.core.cache import cache\ncache.set({name!r}, {value!r}, 60)\n"
    )
    assert cache.get(name) == value
    cache.delete(name)


# Redis on a port where nothing listens: every cache call fails at once.
REDIS_DOWN = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
        "OPTIONS": {"socket_connect_timeout": 0.5},
    }
}


def test_with_redis_down_keys_are_still_checked_and_throttling_is_lifted(
    keyed_client, api_client, api_key, settings, caplog, monkeypatch
):
    _, key = api_key
    monkeypatch.setattr(rates, "_last_warning", float("-inf"))  # warn again here
    settings.CACHES = REDIS_DOWN
    settings.API_KEYS = {**settings.API_KEYS, "THROTTLE_RATE": "1/min"}
    with caplog.at_level("WARNING", logger="api_keys"):
        statuses = [keyed_client.get("/api/v1/whoami/").status_code for _ in range(3)]
    assert statuses == [200, 200, 200]  # checked against the database; not throttled
    wrong = key[:-1] + ("x" if key[-1] != "x" else "y")
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {wrong}")
    assert api_client.get("/api/v1/whoami/").status_code == 401
    warnings = [record.getMessage() for record in caplog.records]
    assert any("cache is unavailable" in message for message in warnings), warnings
    assert not any(key in message or "127.0.0.1:1" in message for message in warnings)


def test_a_key_s_requests_in_another_process_count_toward_its_limit(
    keyed_client, api_key, monkeypatch
):
    api_key_object, _ = api_key
    api_key_object.throttle_rate = "3/min"
    api_key_object.save()
    now = 1_800_000_030.0  # both processes count in the same minute
    monkeypatch.setattr(rates, "clock", lambda: now)
    output = run_in_another_process(
        f"""
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
import {rates.__name__} as rates
import {usage.__name__} as usage
from {APIKeyRateThrottle.__module__} import APIKeyRateThrottle
from {type(api_key_object).__module__} import APIKey

rates.clock = lambda: {now!r}
usage._next_move = float("inf")  # usage is not moved there: that database is not migrated
request = Request(APIRequestFactory().get("/api/v1/whoami/"))
request.auth = APIKey(lookup_id={api_key_object.lookup_id!r}, throttle_rate="3/min")
print([APIKeyRateThrottle().allow_request(request, None) for _ in range(2)])
"""
    )
    assert output.strip() == "[True, True]"
    # Two requests there and one here use up the key's three; alone, this process has made one.
    assert keyed_client.get("/api/v1/whoami/").status_code == 200
    assert keyed_client.get("/api/v1/whoami/").status_code == 429


@pytest.fixture
def redis_round_trips(monkeypatch):
    """The number of round trips to Redis so far: each sends one packed command (a pipeline
    sends all of its commands as one)."""
    trips = []
    send = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        trips.append(command)
        return send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return trips


def test_a_keyed_request_costs_one_round_trip_to_redis(keyed_client, api_key, redis_round_trips):
    keyed_client.get("/api/v1/whoami/")  # the first request records the key's first use
    redis_round_trips.clear()
    response = keyed_client.get("/api/v1/whoami/")
    assert response.status_code == 200
    assert len(redis_round_trips) == 1  # the throttle's counter and usage tally: one script


def test_counters_of_one_call_share_one_round_trip(redis_round_trips):
    windows = [rates.Window.of(f"test:{n}:{uuid.uuid4().hex}", "5/min") for n in range(3)]
    assert rates.count_hits(windows) == [1, 1, 1]  # this thread's first: loads the script
    redis_round_trips.clear()
    assert rates.count_hits(windows[:2]) == [2, 2]
    assert rates.count_hits(windows, tally="0|test|x|a") == [3, 3, 2]
    assert len(redis_round_trips) == 2
    assert cache.get(windows[0].name) == 3  # Django's cache reads the count
    ttl = redis_client().ttl(cache.make_key(windows[0].name))
    assert 0 < ttl <= 61  # its window's end, and a second
    assert rates.take_tallies() == {"0|test|x|a": 1}


def test_the_script_is_loaded_again_after_redis_forgets_it(keyed_client, api_key):
    assert keyed_client.get("/api/v1/whoami/").status_code == 200
    redis_client().script_flush()
    assert keyed_client.get("/api/v1/whoami/").status_code == 200
    assert keyed_client.get("/api/v1/whoami/")["RateLimit"].startswith('"throttle";r=997;')


def test_key_commands_complete_with_redis_unreachable(tmp_path):
    """Key changes are database writes only: a Redis outage cannot leave a key half made."""
    database_url = migrate_sqlite(tmp_path / "db.sqlite3")
    down = {"DATABASE_URL": database_url, "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0"}
    created = manage_py("createapikey", "--name", "billing", **down)
    assert created.returncode == 0, created.stderr
    assert 'Created API key "billing"' in created.stderr
    key = created.stdout.strip()
    checked = manage_py(
        "shell",
        "--verbosity=0",
        "-c",
        f"from {APIKey.__module__} import APIKey\nprint(APIKey.objects.is_valid({key!r}))",
        **down,
    )
    assert checked.stdout.strip() == "True", checked.stderr
    lookup_id = key.split("_")[1]
    revoked = manage_py("revokeapikey", lookup_id, **down)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f'Revoked API key "billing" ({lookup_id}).'
    listed = manage_py("listapikeys", "--json", **down)
    assert [row["status"] for row in json.loads(listed.stdout)] == ["revoked"]


def test_usage_counted_in_another_process_is_read_here_exactly(keyed_client, api_key, monkeypatch):
    api_key_object, _ = api_key
    now = 1_800_001_830.0  # both processes count in the same hour
    monkeypatch.setattr(rates, "clock", lambda: now)
    monkeypatch.setattr(usage, "_next_move", float("inf"))  # this process moves only to read
    for _ in range(3):
        assert keyed_client.get("/api/v1/whoami/").status_code == 200
    output = run_in_another_process(
        f"""
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
import {rates.__name__} as rates
import {usage.__name__} as usage
from {APIKeyRateThrottle.__module__} import APIKeyRateThrottle
from {type(api_key_object).__module__} import APIKey

rates.clock = lambda: {now!r}
usage._next_move = float("inf")  # counted, never moved there
request = Request(APIRequestFactory().get("/api/v1/whoami/"))
request.auth = APIKey(lookup_id={api_key_object.lookup_id!r})
print([APIKeyRateThrottle().allow_request(request, None) for _ in range(4)])
"""
    )
    assert output.strip() == "[True, True, True, True]"
    hour = datetime.fromtimestamp(now // 3600 * 3600, UTC)
    [counted] = usage.usage_of(api_key_object, hour, hour + timedelta(hours=1), "hour")
    assert (counted["accepted"], counted["refused"]) == (7, 0)  # 3 here, 4 there: none lost
    assert usage.move_tallies() == 7  # read where they were; moved, here, by one process


def test_a_quota_is_shared_by_every_process(keyed_client, api_key, monkeypatch):
    api_key_object, _ = api_key
    api_key_object.quota = "5/day"
    api_key_object.save()
    now = 1_800_001_830.0
    monkeypatch.setattr(rates, "clock", lambda: now)
    output = run_in_another_process(
        f"""
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
import {rates.__name__} as rates
import {usage.__name__} as usage
from {APIKeyRateThrottle.__module__} import APIKeyRateThrottle
from {type(api_key_object).__module__} import APIKey

rates.clock = lambda: {now!r}
usage._next_move = float("inf")
request = Request(APIRequestFactory().get("/api/v1/whoami/"))
request.auth = APIKey(lookup_id={api_key_object.lookup_id!r}, quota="5/day")
print([APIKeyRateThrottle().allow_request(request, None) for _ in range(3)])
"""
    )
    assert output.strip() == "[True, True, True]"
    statuses = [keyed_client.get("/api/v1/whoami/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert keyed_client.get("/api/v1/whoami/").json()["error"]["code"] == "quota_exceeded"


def test_throttle_quota_and_usage_share_the_one_round_trip(
    keyed_client, api_key, redis_round_trips
):
    api_key_object, _ = api_key
    api_key_object.quota = "1000/day"
    api_key_object.save()
    keyed_client.get("/api/v1/whoami/")  # the first request records first use and moves usage
    redis_round_trips.clear()
    response = keyed_client.get("/api/v1/whoami/")
    assert response.status_code == 200
    assert response["RateLimit"].startswith('"quota";r=998;')
    assert len(redis_round_trips) == 1
    [command] = redis_round_trips
    sent = b"".join(part if isinstance(part, bytes) else part.tobytes() for part in command)
    assert sent.count(b"EVALSHA") == 1  # the counting script: throttle, quota and usage tally
    for counter in (b"throttle:api_keys.apikey:", b"quota:api_keys.apikey:", b"api_keys:usage"):
        assert counter in sent
