"""Rate limits, counted in the Django cache: per API key (`APIKeyRateThrottle`), and of refused
keys per client address (`RefusalThrottle`, used by the authentication class)."""

import math
import time
from typing import TYPE_CHECKING, Any

from django.core.cache import cache
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from .settings import api_keys_settings, parse_rate
from .verification import verified_key, warn_cache_unavailable

if TYPE_CHECKING:
    from .models import AbstractAPIKey


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
        return self.key_of(verified_key(request))

    def key_of(self, api_key: "AbstractAPIKey | None") -> str | None:
        if api_key is None:
            return None
        ident = f"{api_key._meta.label_lower}:{api_key.lookup_id}"
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = verified_key(request)
        if api_key is None:
            return True
        self.rate = api_key.throttle_rate or self.get_rate()
        if self.rate is None:
            return True
        self.key = self.key_of(api_key)
        if self.key is None:
            return True
        # A rate that is not None parses to two numbers.
        parsed: tuple[int, int] = self.parse_rate(self.rate)  # type: ignore[assignment]
        num_requests, duration = parsed
        self.num_requests, self.duration = num_requests, duration
        self.now = self.timer()
        window = int(self.now // duration)
        self.window_end = (window + 1) * duration
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
        return count <= num_requests

    def wait(self) -> float:
        """Seconds until the current window ends (sent as Retry-After)."""
        return self.window_end - self.now


class RefusalThrottle:
    """Counts refused keys per client address; past API_KEYS["REFUSAL_RATE"] in a window, that
    address gets 429 until the window ends, before its keys cost a query.

    The count is kept in the Django cache (shared with Redis). Each process also remembers the
    addresses it saw go over, so that an accepted request costs a dict lookup, not a cache read;
    another process learns of an address at its own next refusal of it. The address is DRF's
    `get_ident`: REMOTE_ADDR, or the X-Forwarded-For entry that REST_FRAMEWORK["NUM_PROXIES"]
    trusted proxies point at.
    """

    most_remembered = 10_000

    def __init__(self) -> None:
        self._blocked: dict[str, float] = {}  # address -> time.time() its window ends
        self._addresses = BaseThrottle()  # its get_ident reads the client's address

    def reset(self) -> None:
        """Forget the addresses this process saw go over their rate."""
        self._blocked = {}

    def check(self, request: Request) -> None:
        """Raise Throttled (429 with Retry-After) while the request's address is over its rate."""
        if not self._blocked:
            return
        ends = self._blocked.get(self._addresses.get_ident(request))
        if ends is not None and (wait := ends - time.time()) > 0:
            raise Throttled(wait=math.ceil(wait))

    def count(self, request: Request) -> None:
        """Count one refused key from the request's address."""
        rate = api_keys_settings().refusal_rate
        if rate is None:
            return
        limit, period = parse_rate(rate)
        address = self._addresses.get_ident(request)
        now = time.time()
        window = int(now // period)
        name = f"api_keys:refused:{address}:{window}"
        try:
            cache.add(name, 0, period + 1)
            refused = cache.incr(name)
        except Exception as error:
            warn_cache_unavailable(error, "refused keys are not counted per address")
            return
        if refused >= limit:
            if len(self._blocked) >= self.most_remembered:
                self._blocked = {ip: end for ip, end in self._blocked.items() if end > now}
            self._blocked[address] = (window + 1) * period
