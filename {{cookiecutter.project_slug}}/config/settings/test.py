"""Settings for the test suite: fast, isolated, never reading .env."""

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
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
{%- if cookiecutter.cache == "redis" %}
# Each run gets its own key space on the shared Redis server.
CACHES["default"]["KEY_PREFIX"] = f"test-{env('PYTEST_XDIST_WORKER', default='main')}"
{%- endif %}
# Serve static files from the apps' folders, without collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
