"""Settings for the test suite: fast, isolated, never reading .env."""
{%- if cookiecutter.cache == "redis" %}

import os
import uuid
{%- endif %}

import django

from .base import *  # noqa: F403
{%- if cookiecutter.cache == "redis" %}
from .base import CACHES, INSTALLED_APPS, env
{%- else %}
from .base import INSTALLED_APPS
{%- endif %}

# An example of a custom key model, exercised by tests/test_custom_key_model.py.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.example_organizations"]

SECRET_KEY = "test-only-secret-key-not-for-any-real-deployment-0123456789"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
# Users in tests are made often; a fast hasher keeps the suite quick. API keys never use it.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# The admin's second factor, off as in development: users/tests/test_two_factor.py turns it on.
ADMIN_TWO_FACTOR = False
# The schema and Swagger UI, as in development (tests that need them off say so).
API_DOCS = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
{%- if cookiecutter.cache == "redis" %}
# Each run, and each of its xdist workers, gets its own key space on the shared Redis server,
# so that two runs at once never count or clear each other's keys. Processes a test starts
# inherit the run's (through the environment).
os.environ.setdefault("TEST_REDIS_KEY_SPACE", f"test-{uuid.uuid4().hex[:12]}")
worker = env("PYTEST_XDIST_WORKER", default="main")
CACHES["default"]["KEY_PREFIX"] = f"{os.environ['TEST_REDIS_KEY_SPACE']}-{worker}"
{%- endif %}
if django.VERSION >= (6, 1):
    # Mail sent in a test lands in django.core.mail.outbox, as Django's tests swap every mailer
    # for local memory; without MAILERS, Django 6.1 warns that Django 2028 has no default mailer.
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.locmem.EmailBackend"}}
# Serve static files from the apps' folders, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
