"""Production settings: HTTPS only, and every secret from the environment, never from .env."""

import django
from django.core.exceptions import ImproperlyConfigured

from {{ cookiecutter.project_slug }}.api.error_tracking import init_error_tracking

from .base import *  # noqa: F403
from .base import MIDDLEWARE, PROJECT_NAME, env

# Required: the app refuses to start while one is unset or empty (ImproperlyConfigured names it).
# base.py's defaults for DATABASE_URL and REDIS_URL, servers on this machine, are for development.
required_variables = [
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
{%- if cookiecutter.database == "postgresql" %}
    "DATABASE_URL",
{%- endif %}
{%- if cookiecutter.cache == "redis" %}
    "REDIS_URL",
{%- endif %}
]
for name in required_variables:
    if not env.str(name, default="").strip():
        raise ImproperlyConfigured(f"Set the {name} environment variable")
SECRET_KEY = env("DJANGO_SECRET_KEY")
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS everywhere. Plain HTTP to the API gets 403 https_required (api/middleware.py), never a
# redirect: a client that sent its key in clear must fail, and learn it. Other pages (the admin,
# Swagger UI) are redirected. /healthz/ answers plain HTTP: load balancers probe it so, and it
# holds no data. DJANGO_SECURE_SSL_REDIRECT=false turns both off, for a proxy that does it.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]
HTTPS_ONLY_PATHS = [r"^api/(?!docs/)"] if SECURE_SSL_REDIRECT else []

# HSTS: browsers use only HTTPS for this host for a year. includeSubDomains (every subdomain)
# and preload (browsers' built-in lists, for the whole domain) are commitments that take months
# to undo, so they wait for the environment to opt in.
SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
if SECURE_HSTS_PRELOAD and not SECURE_HSTS_INCLUDE_SUBDOMAINS:
    raise ImproperlyConfigured(
        "DJANGO_SECURE_HSTS_PRELOAD=true needs DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS=true: "
        "the preload lists take only domains whose subdomains are covered too"
    )
# check --deploy warns while either is off (security.W005, security.W021). Off is the choice made
# above, so each warning is silenced exactly while its setting is off; opting in brings it back.
SILENCED_SYSTEM_CHECKS: list[str] = []
if not SECURE_HSTS_INCLUDE_SUBDOMAINS:
    SILENCED_SYSTEM_CHECKS.append("security.W005")
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")

# Trust X-Forwarded-Proto only behind a proxy that sets it (and drops it from clients);
# gunicorn.conf.py follows the same variable.
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
# Browsers take a __Host- cookie only over HTTPS, for this host alone (no Domain) and the whole
# site (Path=/), so neither a subdomain nor plain HTTP can set or replace it. Setting
# SESSION_COOKIE_DOMAIN or CSRF_COOKIE_DOMAIN needs the __Secure- prefix instead.
SESSION_COOKIE_NAME = "__Host-sessionid"
CSRF_COOKIE_NAME = "__Host-csrftoken"
# The admin's messages ("... was added") in the session, not in a cookie of their own.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
# The admin's second factor (users/admin_site.py), whatever the environment says.
ADMIN_TWO_FACTOR = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"

# Content-Security-Policy for the admin (the API answers JSON only).
SECURE_CSP = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}
if django.VERSION >= (6, 0):
    MIDDLEWARE = [*MIDDLEWARE, "django.middleware.csp.ContentSecurityPolicyMiddleware"]
else:
    # Django 5.2 has no CSP middleware; this one sends the same header from SECURE_CSP.
    MIDDLEWARE = [
        *MIDDLEWARE,
        "{{ cookiecutter.project_slug }}.api.middleware.ContentSecurityPolicyMiddleware",
    ]

# Where errors go besides the log on standard output (docs/deploying.md#where-errors-go).
# DJANGO_ADMINS: addresses Django mails each 500's report to, through the mail server at
# EMAIL_URL, with the key's header and variables hidden (api/exceptions.py).
admins = env.list("DJANGO_ADMINS", default=[])
email_url = env.str("EMAIL_URL", default="").strip()
if admins and not email_url:
    raise ImproperlyConfigured(
        "DJANGO_ADMINS needs EMAIL_URL, the mail server that sends them the error reports, "
        "e.g. smtp+tls://USER:PASSWORD@smtp.example.com:587"
    )
# Django 6.0 takes addresses; 5.2 takes (name, address) pairs, which 6.0 deprecates.
ADMINS = admins if django.VERSION >= (6, 0) else [("", address) for address in admins]
SERVER_EMAIL = env.str("DJANGO_SERVER_EMAIL", default="root@localhost")
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default=SERVER_EMAIL)
EMAIL_SUBJECT_PREFIX = f"[{PROJECT_NAME}] "
# EMAIL_URL's parts, as django-environ names them, and as Django 6.1's MAILERS options do.
mailer_options = {
    "EMAIL_HOST": "host",
    "EMAIL_PORT": "port",
    "EMAIL_HOST_USER": "username",
    "EMAIL_HOST_PASSWORD": "password",
    "EMAIL_USE_TLS": "use_tls",
    "EMAIL_USE_SSL": "use_ssl",
    "EMAIL_FILE_PATH": "file_path",
    "EMAIL_TIMEOUT": "timeout",
}
if email_url:  # unset: Django's default, SMTP on localhost:25
    email = {
        name: value
        for name, value in env.email_url("EMAIL_URL").items()
        if (name in mailer_options or name == "EMAIL_BACKEND") and value not in (None, "")
    }
    if email["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend":
        email["EMAIL_TIMEOUT"] = 10  # a mail server that hangs holds a failing request 10 s
    if django.VERSION >= (6, 1):  # MAILERS replaces the EMAIL_* settings
        backend = email.pop("EMAIL_BACKEND")
        options = {mailer_options[name]: value for name, value in email.items()}
        MAILERS = {"default": {"BACKEND": backend, "OPTIONS": options}}
    else:
        globals().update(email)

# SENTRY_DSN: errors go to Sentry too, with no key in them (api/error_tracking.py says what
# is sent). Development and the tests never send.
sentry_dsn = env.str("SENTRY_DSN", default="").strip()
if sentry_dsn:
    init_error_tracking(sentry_dsn)
