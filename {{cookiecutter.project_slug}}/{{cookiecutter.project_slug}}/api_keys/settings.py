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
    # API_KEY_CUSTOM_HEADER (djangorestframework-api-key's name for it) is read when this is not
    # set; the system check refuses two different values.
    "HEADER": None,
    # Characters of the lookup id (8 to 16) and of the secret (27 to 64: 160 bits and up).
    "LOOKUP_ID_LENGTH": 12,
    "SECRET_LENGTH": 32,
    # Requests per key allowed by APIKeyRateThrottle, as DRF writes rates: "1000/min",
    # "50/s"; None for no limit. A key's own `throttle_rate` overrides it.
    "THROTTLE_RATE": "1000/min",
    # Seconds between two writes of a key's last_used_at.
    "LAST_USED_INTERVAL": 60,
    # Compile the query of a key check once, for managers with the stock rules (fast_lookup.py);
    # False: every check goes through the ORM.
    "COMPILED_LOOKUP": True,
    # Refused keys (malformed, unknown, revoked, expired) allowed per client address; past it
    # the address gets 429 until the period ends. None: no limit. See throttling.RefusalLimit.
    "REFUSAL_RATE": "100/min",
    # Requests per key per calendar period in UTC, "10000/month", "500/day": past it, 429
    # `quota_exceeded` until the period ends. None: no quota. A key's own `quota` overrides it.
    "QUOTA": None,
    # Count each key's requests per hour (usage.py), accepted and refused apart.
    "USAGE": True,
    # Seconds between two moves of the counts from the cache to the database (at most; a move
    # also happens when an hour closes). A crash loses at most the counts of one move.
    "USAGE_FLUSH_INTERVAL": 60,
    # Longest grace period, in seconds, a client may give a key it rotates through the API
    # (POST /api/v1/keys/{lookup_id}/rotate/): the old key works at most this long after.
    "MAX_ROTATION_GRACE": 7 * 86400,
    # Live children a key may have minted through the API (POST /api/v1/keys/).
    "MAX_CHILDREN": 100,
    # Where GitHub publishes the public keys that sign its secret scanning leak reports
    # (secret_scanning.py): an https:// URL (http:// only on this machine, for tests).
    "SECRET_SCANNING_KEYS_URL": "https://api.github.com/meta/public_keys/secret_scanning",
}


@dataclass(frozen=True)
class APIKeySettings:
    brand: str
    keyword: str
    header: str | None
    lookup_id_length: int
    secret_length: int
    throttle_rate: str | None
    last_used_interval: float
    compiled_lookup: bool
    refusal_rate: str | None
    quota: str | None
    usage: bool
    usage_flush_interval: float
    max_rotation_grace: int
    max_children: int
    secret_scanning_keys_url: str


@cache
def api_keys_settings() -> APIKeySettings:
    """The API_KEYS setting merged over the defaults."""
    values = {**DEFAULTS, **getattr(settings, "API_KEYS", {})}
    if values["HEADER"] is None:
        values["HEADER"] = getattr(settings, "API_KEY_CUSTOM_HEADER", None)
    return APIKeySettings(**{name.lower(): value for name, value in values.items()})


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting in ("API_KEYS", "API_KEY_CUSTOM_HEADER"):
        api_keys_settings.cache_clear()


setting_changed.connect(_reload)
