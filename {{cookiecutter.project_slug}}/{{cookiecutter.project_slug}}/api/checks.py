"""Deployment checks (`manage.py check --deploy`) for what Django's own checks let pass."""

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register


def accepts_any_host(pattern: str) -> bool:
    """`*`, or a whole top-level domain such as `.com`: hosts anyone can name or register."""
    return pattern == "*" or (len(pattern) > 1 and pattern[0] == "." and "." not in pattern[1:])


@register(Tags.security, deploy=True)
def check_allowed_hosts(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Warn when ALLOWED_HOSTS lets a request name a host that is not this API's."""
    too_broad = [pattern for pattern in settings.ALLOWED_HOSTS if accepts_any_host(pattern)]
    if not too_broad:
        return []
    return [
        Warning(
            f"ALLOWED_HOSTS holds {', '.join(map(repr, too_broad))}: requests may name any host, "
            "and links the app builds from the Host header can point to another site.",
            hint="Set DJANGO_ALLOWED_HOSTS to the names the API is served at (api.example.com).",
            id="api.W001",
        )
    ]
