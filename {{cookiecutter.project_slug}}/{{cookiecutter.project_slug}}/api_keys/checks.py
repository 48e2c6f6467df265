"""System checks: a bad API_KEYS entry stops `manage.py` with a message that names it."""

import re
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from .settings import DEFAULTS

BRAND_PATTERN = re.compile(r"[a-z][a-z0-9]{0,19}")
KEYWORD_PATTERN = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")  # an HTTP token
HEADER_PATTERN = re.compile(r"HTTP_[A-Z0-9_]+")


@register()
def check_api_keys_settings(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    """Validate the API_KEYS setting."""
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
    if not (isinstance(values["BRAND"], str) and BRAND_PATTERN.fullmatch(values["BRAND"])):
        errors.append(
            Error(
                f"API_KEYS['BRAND'] is {values['BRAND']!r}.",
                hint="Use 1 to 20 lowercase letters and digits, starting with a letter.",
                id="api_keys.E003",
            )
        )
    if not (isinstance(values["KEYWORD"], str) and KEYWORD_PATTERN.fullmatch(values["KEYWORD"])):
        errors.append(
            Error(
                f"API_KEYS['KEYWORD'] is {values['KEYWORD']!r}.",
                hint="Use one word with no spaces, e.g. 'Api-Key'.",
                id="api_keys.E004",
            )
        )
    header = values["HEADER"] or getattr(settings, "API_KEY_CUSTOM_HEADER", None)
    if header is not None and not (isinstance(header, str) and HEADER_PATTERN.fullmatch(header)):
        errors.append(
            Error(
                f"The API key header is {header!r}.",
                hint="Give the request.META name, e.g. 'HTTP_X_API_KEY' for an X-Api-Key header.",
                id="api_keys.E005",
            )
        )
    return errors
