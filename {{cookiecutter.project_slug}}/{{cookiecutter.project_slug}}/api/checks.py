"""Deployment checks (`manage.py check --deploy`) for what Django's own checks let pass."""

from typing import Any

from django.conf import settings
from django.core.checks import Tags, Warning, register
from rest_framework.settings import api_settings


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


@register(Tags.security, deploy=True)
def check_proxy_count(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Warn when a TLS proxy is trusted but DRF is not told how many proxies are in front: the
    refused-key limit (API_KEYS["REFUSAL_RATE"]) would not count per client."""
    proxies = api_settings.NUM_PROXIES
    if settings.SECURE_PROXY_SSL_HEADER is None or proxies:
        return []
    if proxies == 0:
        effect = "every client seems to have the proxy's address, and one client's refused keys "
        effect += "get them all 429"
    else:  # None: DRF takes the whole X-Forwarded-For, which the client writes, as the address
        effect = "a client's address is read from the whole X-Forwarded-For, which the client "
        effect += "can change for each refused key"
    return [
        Warning(
            f'SECURE_PROXY_SSL_HEADER trusts a proxy while REST_FRAMEWORK["NUM_PROXIES"] is '
            f"{proxies!r}: {effect}.",
            hint="Set DJANGO_NUM_PROXIES to the number of proxies in front that append the "
            "client's address to X-Forwarded-For (1 for one nginx or load balancer), with "
            "DJANGO_SECURE_PROXY_SSL_HEADER=true.",
            id="api.W002",
        )
    ]
