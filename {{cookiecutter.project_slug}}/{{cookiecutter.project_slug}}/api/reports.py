"""Django's error reports (the DEBUG page, and the mail to ADMINS) without the key: the
variables that hold one, its header and any text that reads like one are hidden. Loaded while
logging is set up, before the apps are: this module imports no model and nothing of DRF."""

import re
from typing import Any

from django.utils.safestring import SafeString, mark_safe
from django.views.debug import ExceptionReporter, SafeExceptionReporterFilter

from ..api_keys.settings import api_keys_settings

FILTERED = "[Filtered]"
# Text that reads like a key: this project's `<brand>_<lookup id>_<secret><checksum>`, of any
# brand and length the key app allows (a brand of 1 to 20, a lookup id of 8 to 16, a secret of
# 27 to 64, a checksum of 6), and djangorestframework-api-key's `<prefix>.<secret>`, which
# imported keys keep. Bounded runs: a long text costs a pass, not a pass per character.
KEY_SHAPED = re.compile(
    r"[0-9a-z]{1,20}_[0-9A-Za-z]{8,16}_[0-9A-Za-z]{33,}|[0-9A-Za-z]{8}\.[0-9A-Za-z]{32}"
)


def without_keys(text: str) -> str:
    """`text` with every part that reads like a key replaced by FILTERED."""
    return KEY_SHAPED.sub(FILTERED, text)


class ReportFilter(SafeExceptionReporterFilter):
    """Hide the variables marked with `sensitive_variables` (those that hold an API key) on
    DEBUG error pages as well as in error reports: Django's own filter shows them under DEBUG.
    Hide the key's header too, whatever API_KEYS["HEADER"] calls it: Django's own hides only
    names that say what they hold (AUTHORIZATION, X_API_KEY)."""

    def is_active(self, request: Any) -> bool:
        return True

    def get_safe_request_meta(self, request: Any) -> dict[str, Any]:
        meta: dict[str, Any] = super().get_safe_request_meta(request)
        header = api_keys_settings().header
        if header in meta:
            meta[header] = self.cleansed_substitute
        return meta


class Reporter(ExceptionReporter):
    """Django's error report, as mailed to ADMINS and shown under DEBUG, with every text that
    reads like a key filtered out: careless code may put a key in an exception's message, and a
    client in a query string, which the report shows as they are."""

    def get_traceback_html(self) -> SafeString:
        # Django's escaped page, with runs of letters, digits, "_" and "." (never part of an
        # entity's "&" or ";") replaced by a text without "<", ">", "&" or quotes: still safe.
        return mark_safe(without_keys(super().get_traceback_html()))  # noqa: S308 # nosec B308 B703

    def get_traceback_text(self) -> SafeString:
        return mark_safe(without_keys(super().get_traceback_text()))  # noqa: S308 # nosec B308 B703
