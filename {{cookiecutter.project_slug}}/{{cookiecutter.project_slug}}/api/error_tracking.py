"""Error tracking with Sentry that never carries an API key.

Production turns it on when SENTRY_DSN is set (config/settings/production.py calls
`init_error_tracking`). Sentry's SDK, left to its defaults, sends every frame's local variables
and ignores Django's `sensitive_variables`, so the variables that hold a key would go with each
error. Here an event carries:

- no frame variables (a secret alone, split from its key, reads like no key, so they cannot be
  scrubbed), request body, cookies or personal data (user, IP address);
- of the request's headers, only those in SENT_HEADERS: never Authorization, nor whatever header
  a key may come in (API_KEYS["HEADER"], or a custom key parser's);
- no text that reads like a key: `scrub_event` replaces each one, wherever it is in the event
  (exception messages, log records and other breadcrumbs, URLs), just before the event is sent.

Tracing stays off; were it turned on, transactions would pass through `scrub_event` too.
"""

from typing import Any

import sentry_sdk
from django.core.exceptions import ImproperlyConfigured
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.integrations.logging import ignore_logger
from sentry_sdk.types import Event, Hint
from sentry_sdk.utils import BadDsn

from .reports import without_keys

# Lowercase names of the request headers an event may carry; every other one is left out.
SENT_HEADERS = frozenset(
    {"accept", "content-length", "content-type", "host", "user-agent", "x-forwarded-proto"}
)


def init_error_tracking(dsn: str) -> None:
    """Send errors to Sentry at `dsn`, with what this module's docstring lists left out."""
    try:
        sentry_sdk.init(
            dsn=dsn,
            integrations=[DjangoIntegration()],
            # send_default_pii is left unset, which is off (sentry-sdk 2.75 deprecates setting it).
            include_local_variables=False,
            max_request_body_size="never",
            before_send=scrub_event,
            before_send_transaction=scrub_event,
        )
    except BadDsn:  # never shown, as a DATABASE_URL is not: it holds a key
        raise ImproperlyConfigured(
            "SENTRY_DSN is not a Sentry DSN such as https://<key>@o0.ingest.sentry.io/0"
        ) from None
    # Requests naming another host, from scanners most often: logged, not sent (settings.LOGGING).
    ignore_logger("django.security.DisallowedHost")


def scrub_event(event: Event, hint: Hint) -> Event:
    """Sentry's `before_send`: the event without the request's cookies, body and headers
    outside SENT_HEADERS, and with every text that reads like a key filtered (without_keys)."""
    request = event.get("request")
    if request:
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                name: value for name, value in headers.items() if name.lower() in SENT_HEADERS
            }
        request.pop("cookies", None)
        request.pop("data", None)
    scrubbed: Event = _without_keys(event)
    return scrubbed


def _without_keys(value: Any) -> Any:
    if isinstance(value, str):
        return without_keys(value)
    if isinstance(value, dict):
        return {_without_keys(name): _without_keys(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_without_keys(item) for item in value]
    return value
