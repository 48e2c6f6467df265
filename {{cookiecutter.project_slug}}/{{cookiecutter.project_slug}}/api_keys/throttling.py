"""Rate limits: per API key (`APIKeyRateThrottle`), and of refused keys per client address
(`RefusalThrottle`, used by the authentication class). Both count with rates.count_hits."""

import math
from typing import Any

from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from .permissions import client_address, request_key
from .rates import Window, count_hits
from .settings import api_keys_settings


class APIKeyRateThrottle(BaseThrottle):
    """Allows each key its `throttle_rate`, or API_KEYS["THROTTLE_RATE"] when that is empty.

    Requests are counted per key (its model and lookup id), never per IP address, in fixed
    windows (each clock minute for "1000/min"), so processes that share the cache (Redis) share
    the count. The key is the one the request was accepted with, whichever key model or parser
    the view uses; a request whose key nobody verified is not throttled here: knowing a lookup
    id is not enough to use up that client's requests. If the cache fails, requests are let
    through (and a warning is logged).
    """

    window: Window | None = None

    def get_rate(self) -> str | None:
        """The rate of keys without their own `throttle_rate`."""
        return api_keys_settings().throttle_rate

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request_key(request)
        if api_key is None:
            return True
        rate = api_key.throttle_rate or self.get_rate()
        if rate is None:
            return True
        self.window = Window.of(f"throttle:{api_key._meta.label_lower}:{api_key.lookup_id}", rate)
        counts = count_hits([self.window])
        return counts is None or counts[0] <= self.window.limit

    def wait(self) -> float | None:
        """Seconds until the current window ends (sent as Retry-After)."""
        return None if self.window is None else self.window.seconds_left()


class RefusalThrottle:
    """Counts refused keys per client address; past API_KEYS["REFUSAL_RATE"] in a window, that
    address gets 429 until the window ends, before its keys cost a query.

    Each process also remembers the addresses it saw go over, so that an accepted request costs
    a dict lookup, not a cache read; another process learns of an address at its own next
    refusal of it. The address is `permissions.client_address`.
    """

    most_remembered = 10_000

    def __init__(self) -> None:
        self._blocked: dict[str, Window] = {}  # address -> the window it went over in

    def reset(self) -> None:
        """Forget the addresses this process saw go over their rate."""
        self._blocked = {}

    def check(self, request: Request) -> None:
        """Raise Throttled (429 with Retry-After) while the request's address is over its rate."""
        if not self._blocked:
            return
        window = self._blocked.get(client_address(request))
        if window is not None and (wait := window.seconds_left()) > 0:
            raise Throttled(wait=math.ceil(wait))

    def count(self, request: Request) -> None:
        """Count one refused key from the request's address."""
        rate = api_keys_settings().refusal_rate
        if rate is None:
            return
        address = client_address(request)
        window = Window.of(f"refused:{address}", rate)
        counts = count_hits([window])
        if counts is None or counts[0] < window.limit:
            return
        if len(self._blocked) >= self.most_remembered:
            self._blocked = {ip: w for ip, w in self._blocked.items() if w.seconds_left() > 0}
        self._blocked[address] = window
