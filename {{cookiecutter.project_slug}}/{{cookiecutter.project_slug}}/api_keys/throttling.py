"""Limits: per API key, its rate and its quota, counted with its usage (`APIKeyRateThrottle`);
and of refused keys per client address (`RefusalThrottle`, used by the authentication class).
All count with rates.count_hits."""

import logging
import math
from datetime import UTC, datetime
from typing import Any, NamedTuple

from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from .permissions import client_address, request_key
from .rates import Window, change_tallies, count_hits, is_quota
from .settings import api_keys_settings
from .usage import ACCEPTED, move_if_due, refused_instead, tally

logger = logging.getLogger("api_keys")


class Limit(NamedTuple):
    """One limit a request was counted against, as the RateLimit headers describe it."""

    policy: str  # "throttle" or "quota"; "parent_throttle" or "parent_quota" for a child
    window: Window
    hits: int  # requests counted in the window so far, this one included

    @property
    def remaining(self) -> int:
        return max(0, self.window.limit - self.hits)

    def headers(self) -> dict[str, str]:
        """RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers)."""
        name, reset = f'"{self.policy}"', math.ceil(self.window.seconds_left())
        seconds = round(self.window.ends - self.window.starts)
        return {
            "RateLimit-Policy": f"{name};q={self.window.limit};w={seconds}",
            "RateLimit": f"{name};r={self.remaining};t={reset}",
        }


class APIKeyRateThrottle(BaseThrottle):
    """Allows each key its `throttle_rate` (API_KEYS["THROTTLE_RATE"] when that is empty) and
    its `quota` (API_KEYS["QUOTA"]), and counts its usage (usage.py): all three in one call to
    the cache, one round trip on Redis.

    Requests are counted per key (its model and `counted_as`: the lookup id of the first key of
    its rotations, so that rotating a key does not start its counts again), never per IP
    address: the rate in fixed windows (each clock minute for "1000/min"), the quota in calendar
    periods in UTC, so processes that share the cache (Redis) share the count. Past its rate a
    key gets 429 `throttled`, past its quota 429 `quota_exceeded`, both with Retry-After; every
    answer to a counted request carries the RateLimit-Policy and RateLimit headers of the
    tighter limit.
    A request refused by the rate does not use up the quota. A child key's requests count
    against its parent's rate and quota too, so that a key cannot widen its own limits by
    minting children.

    The key is the one the request was accepted with, whichever key model or parser the view
    uses; a request whose key nobody verified is not counted here: knowing a lookup id is not
    enough to use up that client's requests. If the cache fails, requests are let through (and
    a warning is logged).
    """

    window: Window | None = None

    def get_rate(self) -> str | None:
        """The rate of keys without their own `throttle_rate`."""
        return api_keys_settings().throttle_rate

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request_key(request)
        if api_key is None:
            return True
        options = api_keys_settings()
        limits = self.limits_of(api_key._meta.label_lower, api_key.counted_as, api_key, "")
        if api_key.parent_id is not None:
            parent = {name: api_key.parent_field(name) for name in ("throttle_rate", "quota")}
            # As AbstractAPIKey.counted_as: the parent's lineage, or else its lookup id.
            lineage = api_key.parent_field("lineage") or api_key.parent_field("lookup_id")
            limits += self.limits_of(api_key._meta.label_lower, lineage, parent, "parent_")
        accepted = tally(api_key, ACCEPTED) if options.usage else None
        if not limits and accepted is None:
            return True
        counts = count_hits([window for _, window in limits], accepted)
        if accepted is not None:
            move_if_due()
        if counts is None:
            return True
        counted = [
            Limit(policy, window, count)
            for (policy, window), count in zip(limits, counts, strict=True)
        ]
        headers = getattr(view, "headers", None)  # DRF sends them with the answer, a refusal too
        if counted and isinstance(headers, dict):
            # The tighter: fewer requests left; on a tie, the one that stays so for longer.
            tightest = min(counted, key=lambda limit: (limit.remaining, -limit.window.ends))
            headers.update(tightest.headers())
        over = [limit for limit in counted if limit.hits > limit.window.limit]
        if not over:
            return True
        # Refused: counted as such, and a refusal by a rate gives its quota hits back.
        quota_over = next((limit for limit in over if limit.policy.endswith("quota")), None)
        quota_hits = [limit.window for limit in counted if limit.policy.endswith("quota")]
        change_tallies(
            refused_instead(accepted) if accepted else {},
            uncount=quota_hits if quota_over is None else [],
        )
        if quota_over is not None:
            raise quota_exceeded(quota_over)
        self.window = max((limit.window for limit in over), key=lambda window: window.ends)
        return False

    def limits_of(
        self, model: str, lookup_id: str, api_key: Any, prefix: str
    ) -> list[tuple[str, Window]]:
        """The windows a key's requests count in: its rate and its quota, each if it has one
        (`api_key` reads `throttle_rate` and `quota`, as an object or a dict)."""
        read = api_key.get if isinstance(api_key, dict) else lambda name: getattr(api_key, name)
        counter = f"{model}:{lookup_id}"
        limits: list[tuple[str, Window]] = []
        if rate := read("throttle_rate") or self.get_rate():
            limits.append((f"{prefix}throttle", Window.of(f"throttle:{counter}", rate)))
        if (quota := read("quota") or api_keys_settings().quota) and is_quota(quota):
            limits.append((f"{prefix}quota", Window.of_quota(f"quota:{counter}", quota)))
        elif quota:  # saved past the model's validation (a queryset update): not counted
            logger.warning("API key %s has a quota that cannot be read.", lookup_id)
        return limits

    def wait(self) -> float | None:
        """Seconds until the current window ends (sent as Retry-After)."""
        return None if self.window is None else self.window.seconds_left()


def quota_exceeded(limit: Limit) -> Throttled:
    ends = datetime.fromtimestamp(limit.window.ends, UTC)
    whose = "This API key's parent has" if limit.policy == "parent_quota" else "This API key has"
    message = (
        f"{whose} used its quota of {limit.window.limit} requests; "
        f"it renews at {ends:%Y-%m-%d %H:%M} UTC."
    )
    wait = math.ceil(limit.window.seconds_left())
    return Throttled(wait=wait, detail=message, code="quota_exceeded")


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
