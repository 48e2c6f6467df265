"""Rates and quotas, and the one counter behind every limit of the app and its usage counts.

A rate is written as DRF writes throttle rates, `<requests>/<period>`: "1000/min", "50/s",
"10000/day" (the period's first letter counts: s, m, h or d), and is counted in fixed windows,
each clock minute for "100/min". A quota, `<requests>/<hour|day|week|month>` ("10000/month"),
is counted in calendar periods in UTC: a month runs from the 1st at 00:00 UTC, a week from
Monday. Both count with `count_hits`: one atomic counter per window in the Django cache, so
processes that share the cache (Redis) share the count.

`count_hits` also adds one to a usage tally (usage.py moves tallies to the database), in the
same call. On Redis everything of one call is counted by one command, a short script
(`COUNT_SCRIPT`: `INCR` per counter, `HINCRBY` on one hash of tallies), so a request pays one
round trip whatever it counts; redis-py takes two to three times as long over a pipeline of the
same commands (bench/README.md). Other caches (local memory: per process) count with `add` and
`incr`, each atomic. If the cache fails, nothing is counted: the caller lets the request
through, and a warning is logged at most once a minute.
"""

import contextlib
import logging
import math
import re
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ValidationError

# At most 9 digits: a count that fits any cache's counter and the fields' 20 characters.
RATE = re.compile(r"(\d{1,9})/(s|sec|second|m|min|minute|h|hour|d|day)")
RATE_EXAMPLES = "'100/min', '50/s' or '10000/day' (period: s, min, hour or day)"
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
QUOTA = re.compile(r"(\d{1,9})/(hour|day|week|month)")
QUOTA_EXAMPLES = "'10000/month', '500/day' or '50/hour' (period: hour, day, week or month)"

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


def is_quota(value: object) -> bool:
    """Whether `value` is a quota this module reads."""
    return isinstance(value, str) and QUOTA.fullmatch(value) is not None


def validate_quota(value: str) -> None:
    """Refuse, as a model field validator does, a quota this module could not read."""
    if not is_quota(value):
        raise ValidationError(
            "%(value)r is not a quota. Write requests/period, e.g. " + QUOTA_EXAMPLES + ".",
            code="invalid",
            params={"value": value},
        )


# Periods of a fixed length line up with the epoch (1970-01-01 00:00 UTC, a Thursday): days and
# hours at once, weeks from the Monday after it. A month needs the calendar.
QUOTA_PERIODS = {"hour": (3600, 0), "day": (86400, 0), "week": (7 * 86400, 4 * 86400)}


def period_bounds(period: str, now: float) -> tuple[float, float]:
    """The calendar period (hour, day, week or month, in UTC) that `now` falls in, as
    time.time() values."""
    if period in QUOTA_PERIODS:
        length, offset = QUOTA_PERIODS[period]
        start = (now - offset) // length * length + offset
        return start, start + length
    if period != "month":
        raise ValueError(f"{period!r} is not a quota's period.")
    midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first.timestamp(), following.timestamp()


def clock() -> float:
    """The time windows are counted by (tests move it)."""
    return time.time()


@dataclass(frozen=True)
class Window:
    """The fixed window of a rate that a moment falls in, and its counter's name."""

    name: str
    limit: int
    starts: float  # time.time() at which the window opened
    ends: float  # and closes

    @classmethod
    def of(cls, counter: str, rate: str) -> "Window":
        """The window of `rate` that now falls in, for the counter named `counter`."""
        limit, period = parse_rate(rate)
        index = int(clock() // period)
        name = f"api_keys:{counter}:{period}:{index}"
        return cls(name, limit, index * period, (index + 1) * period)

    @classmethod
    def of_quota(cls, counter: str, quota: str) -> "Window":
        """The calendar period of `quota` that now falls in, for the counter named `counter`."""
        limit, _, period = quota.partition("/")
        start, end = period_bounds(period, clock())
        return cls(f"api_keys:{counter}:{period}:{int(start)}", int(limit), start, end)

    def seconds_left(self) -> float:
        return max(0.0, self.ends - clock())


# Usage tallies not yet moved to the database: on Redis, fields of one hash; elsewhere, cache
# counters named `api_keys:usage:<field>`, which this process remembers the names of.
TALLIES = "api_keys:usage"
TALLY_TIMEOUT = 30 * 86400  # elsewhere, a tally nobody moves in 30 days is dropped
_tally_names: set[str] = set()
_tally_names_lock = threading.Lock()


def count_hits(windows: Sequence[Window], tally: str | None = None) -> list[int] | None:
    """Count one hit in each window, and one in `tally` if given; the windows' counts so far,
    or None if the cache failed."""
    # A counter outlives its window by a second, so it cannot expire between its two commands.
    timeouts = [math.ceil(window.seconds_left()) + 1 for window in windows]
    cache = caches["default"]
    try:
        if isinstance(cache, RedisCache):
            return _count_on_redis(cache, windows, timeouts, tally)
        counted = zip(windows, timeouts, strict=True)
        counts = [_count_here(cache, window.name, timeout) for window, timeout in counted]
        if tally is not None:
            _tally_here(cache, {tally: 1})
    except Exception as error:  # noqa: BLE001  the cache is down: serve, not fail every request
        warn_cache_unavailable(error)
        return None
    return counts


def change_tallies(changes: Mapping[str, int], uncount: Sequence[Window] = ()) -> bool:
    """Add to usage tallies (a negative number subtracts), and take back one hit from each
    window of `uncount`: one round trip on Redis. False if the cache failed (logged)."""
    if not changes and not uncount:
        return True
    cache = caches["default"]
    try:
        if isinstance(cache, RedisCache):
            pipeline = _redis_client(cache).pipeline(transaction=False)
            tallies = cache.make_key(TALLIES)
            for field, amount in changes.items():
                pipeline.hincrby(tallies, field, amount)
            for window in uncount:  # a counter that expired meanwhile must not stay for good
                name = cache.make_key(window.name)
                pipeline.decr(name).expire(name, math.ceil(window.seconds_left()) + 1)
            pipeline.execute()
            return True
        _tally_here(cache, changes)
        for window in uncount:
            with contextlib.suppress(ValueError):  # expired meanwhile: nothing to take back
                cache.decr(window.name)
    except Exception as error:  # noqa: BLE001  as in count_hits
        warn_cache_unavailable(error)
        return False
    return True


def take_tallies() -> dict[str, int]:
    """Take every usage tally out of the cache, at once on Redis (a tally counted while this
    runs is left for the next call); if the cache fails, what was taken before it did."""
    cache = caches["default"]
    try:
        if isinstance(cache, RedisCache):
            tallies = cache.make_key(TALLIES)
            taken = f"{tallies}:taken:{uuid.uuid4().hex}"
            pipeline = _redis_client(cache).pipeline(transaction=True)
            pipeline.rename(tallies, taken).hgetall(taken).delete(taken)
            _, fields, _ = pipeline.execute(raise_on_error=False)  # no tallies: RENAME fails
            return {field.decode(): int(amount) for field, amount in fields.items()}
    except Exception as error:  # noqa: BLE001  as in count_hits
        warn_cache_unavailable(error)
        return {}
    return _take_here(cache)


def peek_tallies() -> dict[str, int]:
    """The usage tallies not yet moved, left where they are; {} if the cache failed. (With
    local memory, this process's own.)"""
    cache = caches["default"]
    try:
        if isinstance(cache, RedisCache):
            fields = _redis_client(cache).hgetall(cache.make_key(TALLIES))
            return {field.decode(): int(amount) for field, amount in fields.items()}
        with _tally_names_lock:
            names = list(_tally_names)
        counts = cache.get_many([f"{TALLIES}:{name}" for name in names])
        return {name: int(counts.get(f"{TALLIES}:{name}") or 0) for name in names}
    except Exception as error:  # noqa: BLE001  as in count_hits
        warn_cache_unavailable(error)
        return {}


# This thread's Redis client, kept with the cache it came from (Django makes a cache per thread,
# and a new client for each call, which costs about half a round trip); every client shares
# the cache's connection pool.
_thread = threading.local()


def _redis_client(redis: RedisCache) -> Any:
    if getattr(_thread, "cache", None) is not redis:
        # Django's RedisCache has no pipeline of its own: its client (a private attribute) has.
        _thread.cache, _thread.client = redis, redis._cache.get_client(write=True)
        _thread.count = _thread.client.register_script(COUNT_SCRIPT)
    return _thread.client


# KEYS: each window's counter, then the hash of tallies. ARGV: each counter's lifetime in
# seconds, then the tally to add one to ("" for none). A counter is given its lifetime when it
# is made (a count of 1); Django's cache reads it as an int. The hash has none: each move takes
# it away whole.
COUNT_SCRIPT = """
local counts = {}
for i = 1, #KEYS - 1 do
  counts[i] = redis.call('INCR', KEYS[i])
  if counts[i] == 1 then redis.call('EXPIRE', KEYS[i], ARGV[i]) end
end
local tally = ARGV[#KEYS]
if tally ~= '' then
  redis.call('HINCRBY', KEYS[#KEYS], tally, 1)
end
return counts
"""


def _count_on_redis(
    redis: RedisCache, windows: Sequence[Window], timeouts: list[int], tally: str | None
) -> list[int]:
    client = _redis_client(redis)
    keys = [redis.make_key(window.name) for window in windows] + [redis.make_key(TALLIES)]
    arguments = [*timeouts, tally or ""]
    # redis-py's Script runs EVALSHA, and loads the script first where Redis lacks it.
    return [int(count) for count in _thread.count(keys=keys, args=arguments, client=client)]


def _count_here(cache: BaseCache, name: str, timeout: int) -> int:
    cache.add(name, 0, timeout)
    try:
        return int(cache.incr(name))
    except ValueError:  # evicted from a full cache in between
        cache.set(name, 1, timeout)
        return 1


def _take_here(cache: BaseCache) -> dict[str, int]:
    with _tally_names_lock:
        names = list(_tally_names)
        _tally_names.clear()
    taken: dict[str, int] = {}
    try:
        for name in names:
            counter = f"{TALLIES}:{name}"
            if amount := int(cache.get(counter) or 0):
                taken[name] = amount
                with contextlib.suppress(ValueError):  # expired meanwhile: taken all the same
                    cache.incr(counter, -amount)  # what is counted meanwhile stays
    except Exception as error:  # noqa: BLE001  as in count_hits: keep what was taken
        warn_cache_unavailable(error)
    return taken


def _tally_here(cache: BaseCache, changes: Mapping[str, int]) -> None:
    for field, amount in changes.items():
        name = f"{TALLIES}:{field}"
        cache.add(name, 0, TALLY_TIMEOUT)
        cache.incr(name, amount)
        with _tally_names_lock:
            _tally_names.add(field)


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
