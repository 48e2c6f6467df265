"""Rate limits per API key: `APIKeyRateThrottle`, counted in the Django cache."""

import math
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from .settings import api_keys_settings
from .verification import verified_key, warn_cache_unavailable


class APIKeyRateThrottle(SimpleRateThrottle):
    """Allows each key its `throttle_rate`, or API_KEYS["THROTTLE_RATE"] when that is empty.

    Requests are counted per key (its model and lookup id), never per IP address, in fixed
    windows (each clock minute for "1000/min") by one atomic counter in the Django cache, so
    processes that share the cache (Redis) share the count. The key is the one the request was
    accepted with, whichever key model or parser the view uses; a request whose key nobody
    verified is not throttled here: knowing a lookup id is not enough to use up that client's
    requests. If the cache fails, requests are let through (and a warning is logged).
    """

    scope = "api_key"

    def __init__(self) -> None:
        # The rate depends on the request's key: allow_request reads it.
        self.rate = None

    def get_rate(self) -> str | None:
        """The rate of keys without their own `throttle_rate`."""
        return api_keys_settings().throttle_rate

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        api_key = verified_key(request)
        if api_key is None:
            return None
        ident = f"{api_key._meta.label_lower}:{api_key.lookup_id}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = verified_key(request)
        self.rate = (api_key.throttle_rate if api_key is not None else "") or self.get_rate()
        self.key = self.get_cache_key(request, view)
        if self.rate is None or self.key is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        counter = f"{self.key}_{window}"
        # incr() is atomic in Redis and local memory; SimpleRateThrottle's read-then-write of a
        # history list loses counts when workers race. The counter outlives its window by a
        # second, so it does not expire between add() and incr().
        timeout = math.ceil(self.window_end - self.now) + 1
        try:
            self.cache.add(counter, 0, timeout)
            try:
                count = self.cache.incr(counter)
            except ValueError:  # evicted from a full cache in between
                self.cache.set(counter, 1, timeout)
                count = 1
        except Exception as error:  # the cache is down: serve rather than fail every request
            warn_cache_unavailable(error, "API keys are not throttled")
            return True
        return count <= self.num_requests

    def wait(self) -> float:
        """Seconds until the current window ends (sent as Retry-After)."""
        return self.window_end - self.now
