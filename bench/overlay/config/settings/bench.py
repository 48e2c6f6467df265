"""Benchmark settings: production's, served over plain HTTP on 127.0.0.1, with quiet logs.

bench/run.py copies this file into a baked project; it is not part of the template.
"""

import importlib
import logging
import os

from django.core.exceptions import ImproperlyConfigured

from .production import *  # noqa: F403
from .production import API_KEYS, INSTALLED_APPS, LOGGING

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
SECURE_SSL_REDIRECT = False  # wrk speaks plain HTTP to 127.0.0.1
HTTPS_ONLY_PATHS: list[str] = []  # nor does the API refuse it
ROOT_URLCONF = "config.bench_urls"
# The package compared against, beside the project's own key app.
INSTALLED_APPS = [*INSTALLED_APPS, "rest_framework_api_key"]

# BENCH_MODE: what the key app counts on each request (bench/README.md, "What it measures").
# - lifted (or unset): nothing. No request may be throttled (refused keys are sent by the
#   thousand from 127.0.0.1), so the rates and the quota are "no limit", and usage counting is
#   off (the quota's None is the project's default, set in case a project ships one);
# - shipped: API_KEYS as the project ships it (the per-key throttle at its default rate, the
#   refused-keys limit, usage counting on) plus a quota no key comes near, so that a request
#   counts its throttle, its quota and its usage tally (one round trip on Redis);
# - no-usage: as shipped, quota included, with usage counting off: shipped over no-usage is
#   what usage counting costs.
# Only entries the baked key app knows are set (its system check refuses others); every other
# entry keeps the project's value, so a template with fewer options (an older one, for
# compare.py) runs as it ships.
BENCH_QUOTA = "1000000000/month"  # with 1,000 keys in turn, no key comes near it
BENCH_MODE_CHANGES = {
    "lifted": {"THROTTLE_RATE": None, "REFUSAL_RATE": None, "QUOTA": None, "USAGE": False},
    "shipped": {"QUOTA": BENCH_QUOTA},
    "no-usage": {"QUOTA": BENCH_QUOTA, "USAGE": False},
}
BENCH_MODE = os.environ.get("BENCH_MODE", "lifted")
if BENCH_MODE not in BENCH_MODE_CHANGES:
    raise ImproperlyConfigured(
        f"BENCH_MODE is one of {', '.join(BENCH_MODE_CHANGES)}, not {BENCH_MODE!r}"
    )
_key_app = next(app for app in INSTALLED_APPS if app.endswith(".api_keys"))
_defaults = importlib.import_module(f"{_key_app}.settings").DEFAULTS
API_KEYS = {
    **API_KEYS,
    **{name: value for name, value in BENCH_MODE_CHANGES[BENCH_MODE].items() if name in _defaults},
}


def _at_least_warning(options: dict) -> dict:
    level = options.get("level", "NOTSET")
    number = level if isinstance(level, int) else logging.getLevelName(str(level).upper())
    quiet_enough = isinstance(number, int) and number >= logging.WARNING
    return {**options, "level": level if quiet_enough else "WARNING"}


# Warnings and errors only, so that logging does not dominate the request cost.
LOGGING = {
    **LOGGING,
    "root": _at_least_warning(LOGGING.get("root", {})),
    "loggers": {name: _at_least_warning(opts) for name, opts in LOGGING.get("loggers", {}).items()},
}
