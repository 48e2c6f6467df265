"""Rate limits per API key: `APIKeyRateThrottle`, counted in the Django cache."""

import math
from typing import Any

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from .authentication import KeyParser
from .models import AbstractAPIKey, APIKey
from .settings import api_keys_settings


class APIKeyRateThrottle(SimpleRateThrottle):
    """Allows each key its `throttle_rate`, or API_KEYS["THROTTLE_RATE"] when that is empty.

    Requests are counted per key lookup id, never per IP address, in fixed windows (each clock
    minute for "1000/min") by one atomic counter in the Django cache, so processes that share
    the cache (Redis) share the count. A request whose key nobody has verified is not
    throttled here: knowing a lookup id is not enough to use up that client's requests.
    """

    scope = "api_key"
    model: type[AbstractAPIKey] = APIKey
    key_parser = KeyParser()

    def __init__(self) -> None:
        # The rate depends on the request's key: allow_request reads it.
        self.rate = None

    def get_rate(self) -> str | None:
        """The rate of keys without their own `throttle_rate`."""
        return api_keys_settings().throttle_rate

    def get_lookup_id(self, request: Request) -> str | None:
        """The lookup id of the verified key this request counts against, or None."""
        if isinstance(request.auth, self.model):
            return request.auth.lookup_id
        # HasAPIKey used alone verifies the key without setting request.auth; it keeps its verdict.
        if request.__dict__.get("_api_key_verdicts", {}).get(self.model):
            parsed = self.model.objects.key_generator.parse(self.key_parser.get(request) or "")
            return parsed.lookup_id if parsed else None
        return None

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        lookup_id = self.get_lookup_id(request)
        if lookup_id is None:
            return None
        return self.cache_format % {"scope": self.scope, "ident": lookup_id}

    def allow_request(self, request: Request, view: Any) -> bool:
        own_rate = request.auth.throttle_rate if isinstance(request.auth, self.model) else ""
        self.rate = own_rate or self.get_rate()
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
        self.cache.add(counter, 0, timeout)
        try:
            count = self.cache.incr(counter)
        except ValueError:  # evicted from a full cache in between
            self.cache.set(counter, 1, timeout)
            count = 1
        return count <= self.num_requests

    def wait(self) -> float:
        """Seconds until the current window ends (sent as Retry-After)."""
        return self.window_end - self.now
