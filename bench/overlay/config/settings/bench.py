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

# BENCH_THROTTLE=shipped: API_KEYS as the project ships it, its per-key throttle on at the
# default rate. BENCH_THROTTLE=lifted (or unset): no request may be throttled (refused keys are
# sent by the thousand from 127.0.0.1), so the key app's rates are set to "no limit" where the
# entries exist (its system check refuses entries it does not know). Every other entry keeps
# the project's value, so a template with other options (an older one, for compare.py) runs as
# it ships.
THROTTLE_MODE = os.environ.get("BENCH_THROTTLE", "lifted")
if THROTTLE_MODE not in ("lifted", "shipped"):
    raise ImproperlyConfigured(f"BENCH_THROTTLE is lifted or shipped, not {THROTTLE_MODE!r}")
_key_app = next(app for app in INSTALLED_APPS if app.endswith(".api_keys"))
API_KEYS = {**API_KEYS}
_defaults = importlib.import_module(f"{_key_app}.settings").DEFAULTS
for _rate in ("THROTTLE_RATE", "REFUSAL_RATE"):
    if _rate in _defaults and THROTTLE_MODE == "lifted":
        API_KEYS[_rate] = None


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
