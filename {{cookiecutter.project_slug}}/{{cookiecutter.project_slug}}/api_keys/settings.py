"""The key app's options: one dict, API_KEYS, in the project settings; the defaults are here.

Read them with `api_keys_settings()`; `checks.py` reports a bad entry at startup.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed

DEFAULTS: dict[str, Any] = {
    # Start of every key, `<BRAND>_<lookup id>_<secret><checksum>`, so secret scanners can
    # recognise a leaked key. Lowercase letters and digits.
    "BRAND": "apikey",
    # The keyword of the Authorization header: `Authorization: Api-Key <key>`.
    "KEYWORD": "Api-Key",
    # Read the key from this request.META name instead of Authorization, e.g. "HTTP_X_API_KEY".
    # The older API_KEY_CUSTOM_HEADER setting is honoured when this one is not set.
    "HEADER": None,
}


@dataclass(frozen=True)
class APIKeySettings:
    brand: str
    keyword: str
    header: str | None


@cache
def api_keys_settings() -> APIKeySettings:
    """The API_KEYS setting merged over the defaults."""
    values = {**DEFAULTS, **getattr(settings, "API_KEYS", {})}
    if values["HEADER"] is None:
        values["HEADER"] = getattr(settings, "API_KEY_CUSTOM_HEADER", None)
    return APIKeySettings(brand=values["BRAND"], keyword=values["KEYWORD"], header=values["HEADER"])


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in ("API_KEYS", "API_KEY_CUSTOM_HEADER"):
        api_keys_settings.cache_clear()


setting_changed.connect(_reload)
