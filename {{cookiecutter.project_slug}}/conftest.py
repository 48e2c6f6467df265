"""Fixtures shared by the whole test suite."""

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any
from unittest import mock

import pytest
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient

from {{ cookiecutter.project_slug }}.api_keys import usage
from {{ cookiecutter.project_slug }}.api_keys.authentication import APIKeyAuthentication
from {{ cookiecutter.project_slug }}.api_keys.keys import KeyGenerator
from {{ cookiecutter.project_slug }}.api_keys.models import APIKey

# Fuzz tests: a quick run by default, 10,000 examples each with HYPOTHESIS_PROFILE=thorough.
for name, examples in (("default", 500), ("thorough", 10_000)):
    settings.register_profile(
        name,
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# Every key issued during the run, and every log line written: at the end, no line may hold a key.
ISSUED_KEYS: list[str] = []
LOG_LINES: list[str] = []


class _Recorder(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        # The message and every text field a structured handler would write. Objects such as
        # django.request's `request` are left out: their repr shows the URL a client chose to
        # send, query string included, which no server can keep a careless client from doing.
        fields = [value for value in vars(record).values() if isinstance(value, str)]
        LOG_LINES.append(" ".join([record.getMessage(), *fields]))


@pytest.fixture(autouse=True, scope="session")
def _watch_for_leaked_keys() -> Iterator[None]:
    generate = KeyGenerator.generate

    def generate_and_record(self: KeyGenerator) -> tuple[str, str, str]:
        issued = generate(self)
        ISSUED_KEYS.append(issued[0])
        return issued

    recorder = _Recorder(level=logging.DEBUG)
    logging.getLogger().addHandler(recorder)
    with mock.patch.object(KeyGenerator, "generate", generate_and_record):
        yield
    logging.getLogger().removeHandler(recorder)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    leaked = {key for key in ISSUED_KEYS for line in LOG_LINES if key in line}
    if leaked:
        message = f"{len(leaked)} API key(s) appeared in log records: keys must never be logged."
        print(f"\n{message}")  # noqa: T201  (said on pytest's own output)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def api_keys_options(settings: Any) -> Callable[..., None]:
    """Change some API_KEYS entries for one test, keeping the others."""

    def configure(**entries: Any) -> None:
        settings.API_KEYS = {**settings.API_KEYS, **entries}

    return configure


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--compiled-lookup",
        choices=("on", "off"),
        default="on",
        help="API_KEYS['COMPILED_LOOKUP'] for the run (off: every key check through the ORM)",
    )


@pytest.fixture(autouse=True)
def _compiled_lookup(request: pytest.FixtureRequest, settings: Any) -> None:
    """`pytest --compiled-lookup=off` runs the suite with the key checks' compiled query off."""
    if request.config.getoption("--compiled-lookup") == "off":
        settings.API_KEYS = {**settings.API_KEYS, "COMPILED_LOOKUP": False}


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Each test starts with no throttle counts, no usage counted and no address refused."""
    APIKeyAuthentication.refusals.reset()
    usage._next_move = 0.0  # the first request moves the tallies, as in a new process
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
