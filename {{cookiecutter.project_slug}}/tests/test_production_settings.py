"""config.settings.production, loaded in a clean process as a server would load it."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
SECRET = secrets.token_urlsafe(50)
PRINT_SETTINGS = (
    "import json, django; from django.conf import settings; django.setup(); print(json.dumps({"
    "name: getattr(settings, name, None) for name in ("
    "'DEBUG', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', "
    "'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
    "'SESSION_COOKIE_HTTPONLY', 'X_FRAME_OPTIONS', 'SECURE_PROXY_SSL_HEADER', "
    "'SECURE_CONTENT_TYPE_NOSNIFF', 'SECURE_REFERRER_POLICY', 'ALLOWED_HOSTS', 'MIDDLEWARE')}"
    ", default=str))"
)


def run(code_or_args, **environment):
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.production", **environment)
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )


def production_settings(**environment):
    result = run(PRINT_SETTINGS, **environment)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS"])
def test_refuses_to_start_without_a_required_variable(missing):
    environment = {"DJANGO_SECRET_KEY": SECRET, "DJANGO_ALLOWED_HOSTS": "api.example.com"}
    del environment[missing]
    result = run(["manage.py", "check"], **environment)
    assert result.returncode != 0
    assert missing in result.stderr
    assert "Traceback" not in result.stderr


def test_refuses_an_empty_allowed_hosts():
    result = run(["manage.py", "check"], DJANGO_SECRET_KEY=SECRET, DJANGO_ALLOWED_HOSTS="")
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS" in result.stderr


def test_does_not_read_the_dot_env_file(tmp_path):
    result = run(["manage.py", "check"], DJANGO_ALLOWED_HOSTS="api.example.com")
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_https_hardening():
    values = production_settings(DJANGO_SECRET_KEY=SECRET, DJANGO_ALLOWED_HOSTS="api.example.com")
    assert values["DEBUG"] is False
    assert values["SECURE_HSTS_SECONDS"] >= 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["ALLOWED_HOSTS"] == ["api.example.com"]
    assert any("ContentSecurityPolicyMiddleware" in name for name in values["MIDDLEWARE"])


def test_proxy_header_is_trusted_only_when_configured():
    base = {"DJANGO_SECRET_KEY": SECRET, "DJANGO_ALLOWED_HOSTS": "api.example.com"}
    assert production_settings(**base)["SECURE_PROXY_SSL_HEADER"] is None
    trusted = production_settings(**base, DJANGO_SECURE_PROXY_SSL_HEADER="true")
    assert trusted["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_deploy_check_finds_nothing():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SECRET_KEY=SECRET,
        DJANGO_ALLOWED_HOSTS="api.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
