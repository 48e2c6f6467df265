"""System checks: a bad API_KEYS entry stops `manage.py` with a message that names it."""

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register

from .keys import LOOKUP_ID_LENGTHS, SECRET_LENGTHS, is_allowed_length
from .rates import is_quota, is_rate
from .settings import DEFAULTS


def _is_seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _is_keys_url(value: Any) -> bool:
    """https://, or http:// to this machine (a test's key server): what signs a leak report
    must not come over a network in clear."""
    if not isinstance(value, str):
        return False
    try:
        url = urlsplit(value)
    except ValueError:  # e.g. "http://[::1", an unclosed bracket
        return False
    local = url.scheme == "http" and url.hostname in ("localhost", "127.0.0.1", "::1")
    return bool(url.hostname) and (url.scheme == "https" or local)


# Entry: (is the value good?, what a good value looks like).
RULES: dict[str, tuple[Callable[[Any], object], str]] = {
    "BRAND": (
        lambda v: isinstance(v, str) and re.fullmatch(r"[a-z][a-z0-9]{0,19}", v) is not None,
        "1 to 20 lowercase letters and digits, starting with a letter",
    ),
    "KEYWORD": (
        lambda v: isinstance(v, str) and re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", v),
        "one word with no spaces, e.g. 'Api-Key'",
    ),
    "HEADER": (
        lambda v: v is None or (isinstance(v, str) and re.fullmatch(r"HTTP_[A-Z0-9_]+", v)),
        "None, or a request.META name such as 'HTTP_X_API_KEY' for an X-Api-Key header",
    ),
    "LOOKUP_ID_LENGTH": (
        lambda v: is_allowed_length(v, LOOKUP_ID_LENGTHS),
        f"a whole number from {LOOKUP_ID_LENGTHS[0]} to {LOOKUP_ID_LENGTHS[-1]}",
    ),
    "SECRET_LENGTH": (
        lambda v: is_allowed_length(v, SECRET_LENGTHS),
        f"a whole number from {SECRET_LENGTHS[0]} to {SECRET_LENGTHS[-1]}",
    ),
    "THROTTLE_RATE": (
        lambda v: v is None or is_rate(v),
        "None, or a rate such as '1000/min', '50/s', '10000/day'",
    ),
    "LAST_USED_INTERVAL": (_is_seconds, "a number of seconds, 0 or more"),
    "COMPILED_LOOKUP": (lambda v: isinstance(v, bool), "True or False"),
    "REFUSAL_RATE": (
        lambda v: v is None or is_rate(v),
        "None, or a rate such as '100/min'",
    ),
    "QUOTA": (
        lambda v: v is None or is_quota(v),
        "None, or a quota such as '10000/month', '500/day' (period: hour, day, week or month)",
    ),
    "USAGE": (lambda v: isinstance(v, bool), "True or False"),
    "USAGE_FLUSH_INTERVAL": (
        lambda v: _is_seconds(v) and 1 <= v <= 3600,
        "a number of seconds from 1 to 3600",
    ),
    "MAX_ROTATION_GRACE": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 366 * 86400,
        "a whole number of seconds from 0 to 31622400 (366 days)",
    ),
    "MAX_CHILDREN": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "a whole number, 0 or more (0: no key may mint children)",
    ),
    "SECRET_SCANNING_KEYS_URL": (
        _is_keys_url,
        f"an https:// URL such as {DEFAULTS['SECRET_SCANNING_KEYS_URL']!r} (http:// to localhost)",
    ),
}


@register()
def check_api_keys_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Validate the API_KEYS setting (and API_KEY_CUSTOM_HEADER)."""
    configured = getattr(settings, "API_KEYS", {})
    if not isinstance(configured, dict):
        return [Error("API_KEYS must be a dict.", id="api_keys.E001")]
    errors = [
        Error(
            f"API_KEYS has an unknown entry {name!r}.",
            hint=f"Known entries: {', '.join(DEFAULTS)}.",
            id="api_keys.E002",
        )
        for name in configured
        if name not in DEFAULTS
    ]
    values = {**DEFAULTS, **configured}
    legacy_header = getattr(settings, "API_KEY_CUSTOM_HEADER", None)
    if values["HEADER"] is None:
        values["HEADER"] = legacy_header
    elif legacy_header is not None and legacy_header != values["HEADER"]:
        errors.append(
            Error(
                f"API_KEYS['HEADER'] is {values['HEADER']!r} but API_KEY_CUSTOM_HEADER is "
                f"{legacy_header!r}.",
                hint="Set one of them: API_KEY_CUSTOM_HEADER is the older name of the same option.",
                id="api_keys.E004",
            )
        )
    for name, (is_good, expected) in RULES.items():
        if not is_good(values[name]):
            errors.append(
                Error(
                    f"API_KEYS[{name!r}] is {values[name]!r}.",
                    hint=f"Use {expected}.",
                    id="api_keys.E003",
                )
            )
    return errors
