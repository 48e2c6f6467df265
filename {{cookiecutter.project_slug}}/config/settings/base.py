"""Settings shared by every environment; deploy-specific values come from environment variables."""

import os
import re
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent
env = environ.Env()

PROJECT_NAME = {{ cookiecutter.project_name|python_string }}
DEBUG = False
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    # Django's admin, asking staff for a second factor where ADMIN_TWO_FACTOR is on.
    "{{ cookiecutter.project_slug }}.users.apps.AdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "{{ cookiecutter.project_slug }}.users",
    "{{ cookiecutter.project_slug }}.api_keys",
    "{{ cookiecutter.project_slug }}.api",
]
# The project's own user model, from the first migration (users/models.py says why).
AUTH_USER_MODEL = "users.User"
# Staff passwords are stored with Argon2; the others still check passwords stored before.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# The admin, where keys are made: at DJANGO_ADMIN_URL (a path such as "staff-7f3a/"; a path
# nobody guesses keeps scanners away, though not a determined attacker), and behind a second
# factor (users/admin_site.py): a code from an authenticator app after the password. Always on
# in production; development settings turn it off unless DJANGO_ADMIN_TWO_FACTOR=true.
# Read as it is: django-environ would take a value starting with "$" for another variable's name.
ADMIN_URL = os.environ.get("DJANGO_ADMIN_URL", "admin/")
admin_url_parts = ADMIN_URL.split("/")[:-1]
if not re.fullmatch(r"([A-Za-z0-9._~-]+/)+", ADMIN_URL) or (
    {".", ".."} & set(admin_url_parts) or admin_url_parts[0] in ("api", "healthz", "static")
):
    raise ImproperlyConfigured(
        f"DJANGO_ADMIN_URL={ADMIN_URL!r} is not a path the admin can take: give one such as "
        "'staff/' or 'ops/admin/' (letters, digits, '.', '_', '~' and '-', each part ending "
        "in '/', no leading '/'), outside api/, healthz/ and static/"
    )
ADMIN_TWO_FACTOR = True
OTP_TOTP_ISSUER = PROJECT_NAME
# The admin's pages of devices never show a secret: who can read one can give its codes.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True

MIDDLEWARE = [
    # First, so the duration it logs covers every other middleware.
    "{{ cookiecutter.project_slug }}.api_keys.middleware.UsageLogMiddleware",
    # Before SecurityMiddleware, whose HTTPS redirect it replaces with a refusal on API paths.
    "{{ cookiecutter.project_slug }}.api.middleware.HTTPSOnlyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "{{ cookiecutter.project_slug }}.api.middleware.NoStoreMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Tells whether the signed-in person gave their second factor (user.is_verified()).
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Paths (regexes, as SECURE_REDIRECT_EXEMPT) where plain HTTP gets 403 https_required; none here,
# production.py lists the API's.
HTTPS_ONLY_PATHS: list[str] = []

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# DATABASE_URL, e.g. postgres://user:password@host:5432/name or sqlite:////abs/path/db.sqlite3;
# unset or empty means the default below.
{%- if cookiecutter.database == "postgresql" %}
default_database_url = "postgres://127.0.0.1:5432/{{ cookiecutter.project_slug }}"
{%- else %}
default_database_url = f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
{%- endif %}
database_url = env("DATABASE_URL", default="").strip() or default_database_url
if "://" not in database_url:  # never shown: it may hold a password
    raise ImproperlyConfigured(
        "DATABASE_URL is not a URL such as postgres://user:password@host:5432/name "
        "or sqlite:////absolute/path/db.sqlite3"
    )
DATABASES = {"default": env.db_url_config(database_url)}
# Keep connections open between requests, and check them before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Transactions take the write lock when they begin: one that reads then writes (rotating a
    # key) waits for other writers instead of failing at once with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {})["transaction_mode"] = "IMMEDIATE"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

{% if cookiecutter.cache == "redis" -%}
# REDIS_URL, e.g. redis://127.0.0.1:6379/0; shared by every process, so limits hold across hosts.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env("REDIS_URL", default="").strip() or "redis://127.0.0.1:6379/0",
        "KEY_PREFIX": "{{ cookiecutter.project_slug }}",
    }
}
{%- else -%}
# Per process: throttling counts separately in each worker. Choose Redis for shared limits.
# Room for the counters of many keys (Django's default of 300 entries would drop counts).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 100_000},
    }
}
{%- endif %}

# Variables that hold API keys, the key's header and text that reads like a key stay hidden on
# error pages and in error reports, DEBUG or not.
DEFAULT_EXCEPTION_REPORTER = "{{ cookiecutter.project_slug }}.api.reports.Reporter"
DEFAULT_EXCEPTION_REPORTER_FILTER = "{{ cookiecutter.project_slug }}.api.reports.ReportFilter"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

REST_FRAMEWORK = {
    # The key first: its 401 answers carry `WWW-Authenticate: Api-Key`. Sessions let a view
    # open to logged-in users too (`HasAPIKey | IsAuthenticated`) admit them.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "{{ cookiecutter.project_slug }}.api_keys.authentication.APIKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # A valid key holding the view's `required_scopes`.
    "DEFAULT_PERMISSION_CLASSES": [
        "{{ cookiecutter.project_slug }}.api_keys.permissions.HasAPIKey",
    ],
    # Requests per key: API_KEYS["THROTTLE_RATE"], or the key's own throttle_rate.
    "DEFAULT_THROTTLE_CLASSES": [
        "{{ cookiecutter.project_slug }}.api_keys.throttling.APIKeyRateThrottle",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, with too deeply nested JSON a 400 rather than a 500.
    "DEFAULT_PARSER_CLASSES": [
        "{{ cookiecutter.project_slug }}.api.parsers.NestingSafeJSONParser",
    ],
    "EXCEPTION_HANDLER": "{{ cookiecutter.project_slug }}.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Proxies in front of the app that append to X-Forwarded-For: the client's address, which
    # refused keys are counted by (API_KEYS["REFUSAL_RATE"]), is the entry they point at. 0:
    # the address the connection came from (X-Forwarded-For, which any client can set, ignored).
    "NUM_PROXIES": env.int("DJANGO_NUM_PROXIES", default=0),
}

# The OpenAPI schema at /api/schema/ and Swagger UI at /api/docs/, only where API_DOCS is on.
SPECTACULAR_SETTINGS = {
    "TITLE": PROJECT_NAME,
    "DESCRIPTION": {{ cookiecutter.description|python_string }},
    "VERSION": "1.0.0",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "{{ cookiecutter.project_slug }}.api.schema.document_errors",
        "{{ cookiecutter.project_slug }}.api.schema.spell_nullable_as_3_1",
    ],
}
API_DOCS = env.bool("DJANGO_API_DOCS", default=False)

# The key app's options; their defaults and meaning: settings.py in the api_keys app.
API_KEYS = {
    "BRAND": "{{ cookiecutter.__key_brand }}",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "{asctime} {levelname} {name} {message}", "style": "{"},
    },
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain",
        },
    },
    "root": {"handlers": ["stdout"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        # Errors only: the usage log already has a line for every refused API request, and a
        # warning per 4xx would let a flood of bad keys double the log volume.
        "django.request": {"level": "ERROR"},
        # A request naming a host not in ALLOWED_HOSTS (from a scanner, most often) answers 400
        # and is logged here only: never mailed to ADMINS, nor sent to Sentry.
        "django.security.DisallowedHost": {"handlers": ["stdout"], "propagate": False},
    },
}
