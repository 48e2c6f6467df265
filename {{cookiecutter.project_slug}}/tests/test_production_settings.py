"""config.settings.production, loaded in a clean process as a server would load it."""

import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
# The variables production cannot start without, with values that need no server to load.
REQUIRED = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
    "DJANGO_ALLOWED_HOSTS": "api.example.com",
{%- if cookiecutter.database == "postgresql" %}
    "DATABASE_URL": "postgres://app:secret@db.example.com:5432/{{ cookiecutter.project_slug }}",
{%- endif %}
{%- if cookiecutter.cache == "redis" %}
    "REDIS_URL": "redis://cache.example.com:6379/0",
{%- endif %}
}
PRINT_SETTINGS = (
    "import json, django; from django.conf import settings; django.setup(); print(json.dumps({"
    "name: getattr(settings, name, None) for name in ("
    "'DEBUG', 'SECURE_HSTS_SECONDS', 'SECURE_HSTS_INCLUDE_SUBDOMAINS', 'SECURE_HSTS_PRELOAD', "
    "'SECURE_SSL_REDIRECT', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
    "'SESSION_COOKIE_HTTPONLY', 'X_FRAME_OPTIONS', 'SECURE_PROXY_SSL_HEADER', "
    "'SECURE_CONTENT_TYPE_NOSNIFF', 'SECURE_REFERRER_POLICY', 'ALLOWED_HOSTS', 'MIDDLEWARE', "
    "'HTTPS_ONLY_PATHS')}"
    ", default=str))"
)


def run(code_or_args, project=PROJECT, **environment):
    """Run Python in `project` with production settings and only `environment` of the
    project's variables: none of the caller's DJANGO_*, DATABASE_URL or REDIS_URL."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_") and key not in ("DATABASE_URL", "REDIS_URL")
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings.production", **environment)
    args = code_or_args if isinstance(code_or_args, list) else ["-c", code_or_args]
    return subprocess.run(
        [sys.executable, *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def production_settings(**environment):
    result = run(PRINT_SETTINGS, **{**REQUIRED, **environment})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def deploy_check(**environment):
    return run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **{**REQUIRED, **environment}
    )


@pytest.mark.parametrize("value", [None, "", " "], ids=["unset", "empty", "blank"])
@pytest.mark.parametrize("missing", list(REQUIRED))
def test_refuses_to_start_without_a_required_variable(missing, value):
    environment = dict(REQUIRED)
    if value is None:
        del environment[missing]
    else:
        environment[missing] = value
    result = run(["manage.py", "check"], **environment)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        f"Configuration error: Set the {missing} environment variable"
    ]


@pytest.mark.parametrize("value", ["localhost", "postgres//app:secret@db/name"])
def test_a_database_url_that_is_not_a_url_is_refused_without_showing_it(value):
    result = run(["manage.py", "check"], **{**REQUIRED, "DATABASE_URL": value})
    assert result.returncode != 0
    assert result.stderr.startswith("Configuration error: DATABASE_URL is not a URL such as ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert value not in result.stderr


def test_does_not_read_the_dot_env_file(tmp_path):
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("config", "{{ cookiecutter.project_slug }}"):
        shutil.copytree(PROJECT / folder, tmp_path / folder, ignore=ignore)
    shutil.copy(PROJECT / "manage.py", tmp_path)
    (tmp_path / ".env").write_text("".join(f"{name}={value}\n" for name, value in REQUIRED.items()))
    environment = {name: value for name, value in REQUIRED.items() if name != "DJANGO_SECRET_KEY"}

    result = run(["manage.py", "check"], project=tmp_path, **environment)

    assert result.returncode != 0
    assert "Set the DJANGO_SECRET_KEY environment variable" in result.stderr


def test_https_hardening():
    values = production_settings()
    assert values["DEBUG"] is False
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SECURE_CONTENT_TYPE_NOSNIFF"] is True
    assert values["X_FRAME_OPTIONS"] == "DENY"
    assert values["SECURE_REFERRER_POLICY"] == "same-origin"
    assert values["ALLOWED_HOSTS"] == ["api.example.com"]
    assert any("ContentSecurityPolicyMiddleware" in name for name in values["MIDDLEWARE"])


def test_hsts_is_one_year_for_this_host_only_by_default():
    values = production_settings()
    assert values["SECURE_HSTS_SECONDS"] == 365 * 24 * 60 * 60
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is False


def test_hsts_covers_subdomains_and_preload_when_the_environment_opts_in():
    subdomains = production_settings(DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="true")
    assert subdomains["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert subdomains["SECURE_HSTS_PRELOAD"] is False
    both = production_settings(
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="true", DJANGO_SECURE_HSTS_PRELOAD="true"
    )
    assert both["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert both["SECURE_HSTS_PRELOAD"] is True


def test_hsts_preload_without_subdomains_is_refused():
    result = run(["manage.py", "check"], **REQUIRED, DJANGO_SECURE_HSTS_PRELOAD="true")
    assert result.returncode != 0
    assert result.stderr.startswith(
        "Configuration error: DJANGO_SECURE_HSTS_PRELOAD=true needs "
        "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=true"
    )


def test_plain_http_is_refused_on_api_paths_unless_redirects_are_off():
    assert production_settings()["HTTPS_ONLY_PATHS"] == [r"^api/(?!docs/)"]
    assert production_settings(DJANGO_SECURE_SSL_REDIRECT="false")["HTTPS_ONLY_PATHS"] == []


def test_proxy_header_is_trusted_only_when_configured():
    assert production_settings()["SECURE_PROXY_SSL_HEADER"] is None
    trusted = production_settings(DJANGO_SECURE_PROXY_SSL_HEADER="true")
    assert trusted["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_deploy_check_finds_nothing():
    result = deploy_check()
    assert result.returncode == 0, result.stderr
    # security.W005 and W021 (HSTS without includeSubDomains, without preload) are silenced
    # while those settings are off by choice: see config/settings/production.py.
    assert "System check identified no issues (2 silenced)." in result.stdout


def test_deploy_check_runs_the_hsts_checks_again_once_opted_in():
    result = deploy_check(
        DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS="true", DJANGO_SECURE_HSTS_PRELOAD="true"
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


@pytest.mark.parametrize("hosts", ["*", "api.example.com,*", ".com"])
def test_deploy_check_warns_about_allowed_hosts_that_accept_any_host(hosts):
    result = deploy_check(DJANGO_ALLOWED_HOSTS=hosts)
    assert result.returncode != 0
    assert "(api.W001) ALLOWED_HOSTS holds " in result.stderr


PRINT_ADMIN = """
import json, django
from django.conf import settings
# The pages name static files without collectstatic's manifest, which this test does not make.
settings.STORAGES = {**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
django.setup()
from django.test import Client
from django.urls import reverse
login = reverse("admin:login")
answer = Client().get(login, secure=True, headers={"host": "api.example.com"})
print(json.dumps({
    "login": login,
    "status": answer.status_code,
    "cookies": {name: dict(cookie) for name, cookie in answer.cookies.items()},
    "session_cookie": [settings.SESSION_COOKIE_NAME, settings.SESSION_COOKIE_SECURE,
                       settings.SESSION_COOKIE_PATH, settings.SESSION_COOKIE_DOMAIN],
    "two_factor": settings.ADMIN_TWO_FACTOR,
    "first_hasher": settings.PASSWORD_HASHERS[0],
}))
"""


def admin_settings(**environment):
    result = run(PRINT_ADMIN, **{**REQUIRED, **environment})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_cookies_carry_the_host_prefix_and_what_it_requires():
    values = admin_settings()
    assert values["status"] == 200
    # What browsers require of a __Host- cookie: Secure, Path=/, and no Domain.
    assert list(values["cookies"]) == ["__Host-csrftoken"]
    csrf = values["cookies"]["__Host-csrftoken"]
    assert csrf["secure"] is True
    assert csrf["path"] == "/"
    assert csrf["domain"] == ""
    assert values["session_cookie"] == ["__Host-sessionid", True, "/", None]


def test_the_admin_asks_for_a_second_factor_whatever_the_environment_says():
    values = admin_settings(DJANGO_ADMIN_TWO_FACTOR="false")
    assert values["two_factor"] is True
    assert values["first_hasher"] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_the_admin_moves_to_django_admin_url():
    assert admin_settings()["login"] == "/admin/login/"
    assert admin_settings(DJANGO_ADMIN_URL="staff-7f3a/")["login"] == "/staff-7f3a/login/"


@pytest.mark.parametrize(
    "value", ["/admin/", "admin", "", "a b/", "api/", "healthz/", "../x/", "$HOME/"]
)
def test_an_admin_url_that_cannot_be_a_path_is_refused_in_a_sentence(value):
    result = run(["manage.py", "check"], **{**REQUIRED, "DJANGO_ADMIN_URL": value})
    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"Configuration error: DJANGO_ADMIN_URL={value!r} is not a path ")
