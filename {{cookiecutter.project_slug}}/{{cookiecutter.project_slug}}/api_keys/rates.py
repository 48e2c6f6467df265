"""Rates, and the one counter behind every limit of the app.

A rate is written as DRF writes throttle rates, `<requests>/<period>`: "1000/min", "50/s",
"10000/day" (the period's first letter counts: s, m, h or d). Every limit counts hits in fixed
windows, each clock minute for "100/min", with `count_hits`: one atomic counter per window in
the Django cache, so processes that share the cache (Redis) share the count.

On Redis, every counter of one call is counted in one round trip (a pipeline of `SET NX` and
`INCR` per counter, on the cache's own client), so a request pays one round trip whatever it
counts. Other caches (local memory: per process) count with `add` and `incr`, each atomic.
If the cache fails, nothing is counted: the caller lets the request through, and a warning is
logged at most once a minute.
"""

import logging
import math
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ValidationError

RATE = re.compile(r"(\d+)/(s|sec|second|m|min|minute|h|hour|d|day)")
RATE_EXAMPLES = "'100/min', '50/s' or '10000/day' (period: s, min, hour or day)"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

logger = logging.getLogger("api_keys")


def is_rate(value: object) -> bool:
    """Whether `value` is a rate this module reads."""
    return isinstance(value, str) and RATE.fullmatch(value) is not None


def parse_rate(rate: str) -> tuple[int, int]:
    """(requests, seconds) of a rate: "100/min" -> (100, 60)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period[0]]


def validate_rate(value: str) -> None:
    """Refuse, as a model field validator does, a rate this module could not read."""
    if not is_rate(value):
        raise ValidationError(
            "%(value)r is not a rate. Write requests/period, e.g. " + RATE_EXAMPLES + ".",
            code="invalid",
            params={"value": value},
        )


def clock() -> float:
    """The time windows are counted by (tests move it)."""
    return time.time()


@dataclass(frozen=True)
class Window:
    """The fixed window of a rate that a moment falls in, and its counter's name."""

    name: str
    limit: int
    ends: float  # time.time() at which the window closes

    @classmethod
    def of(cls, counter: str, rate: str) -> "Window":
        """The window of `rate` that now falls in, for the counter named `counter`."""
        limit, period = parse_rate(rate)
        index = int(clock() // period)
        return cls(f"api_keys:{counter}:{period}:{index}", limit, (index + 1) * period)

    def seconds_left(self) -> float:
        return max(0.0, self.ends - clock())


def count_hits(windows: Sequence[Window]) -> list[int] | None:
    """Count one hit in each window; the counts so far, or None if the cache failed."""
    # A counter outlives its window by a second, so it cannot expire between its two commands.
    timeouts = [math.ceil(window.seconds_left()) + 1 for window in windows]
    cache = caches["default"]
    try:
        if isinstance(cache, RedisCache):
            return _count_on_redis(cache, windows, timeouts)
        counted = zip(windows, timeouts, strict=True)
        return [_count_here(cache, window.name, timeout) for window, timeout in counted]
    except Exception as error:  # noqa: BLE001  the cache is down: serve, not fail every request
        warn_cache_unavailable(error)
        return None


# This thread's Redis client, kept with the cache it came from (Django makes a cache per thread,
# and a new client for each call, which costs about half a round trip); every client shares
# the cache's connection pool.
_thread = threading.local()


def _count_on_redis(redis: RedisCache, windows: Sequence[Window], timeouts: list[int]) -> list[int]:
    if getattr(_thread, "cache", None) is not redis:
        # Django's RedisCache has no pipeline of its own: its client (a private attribute) has.
        _thread.cache, _thread.client = redis, redis._cache.get_client(write=True)
    pipeline = _thread.client.pipeline(transaction=False)
    for window, timeout in zip(windows, timeouts, strict=True):
        name = redis.make_key(window.name)
        pipeline.set(name, 0, ex=timeout, nx=True)  # Django's cache reads the count as an int
        pipeline.incr(name)
    return [int(count) for count in pipeline.execute()[1::2]]


def _count_here(cache: BaseCache, name: str, timeout: int) -> int:
    cache.add(name, 0, timeout)
    try:
        return int(cache.incr(name))
    except ValueError:  # evicted from a full cache in between
        cache.set(name, 1, timeout)
        return 1


_last_warning = 0.0


def warn_cache_unavailable(error: Exception) -> None:
    """Log, at most once a minute per process, that the cache failed. Only the error's type:
    its text may hold the cache's address and credentials."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= 60:
        _last_warning = now
        logger.warning(
            "The cache is unavailable (%s): rate limits are not counted.", type(error).__name__
        )
