"""Usage: how many requests each key made in each hour (UTC), accepted and refused apart.

Counting writes nothing to the database on a request's path. Each keyed request that reaches
`APIKeyRateThrottle` adds one to its key's tally for the hour in the Django cache, in the same
call (on Redis, the same round trip) as the throttle and the quota (rates.count_hits); a
request refused on the way (a missing scope, an address not allowed, an expired key, a
throttle or a quota) is counted as refused. The tallies are moved to the `KeyUsage` table in
batches: by the first request after API_KEYS["USAGE_FLUSH_INTERVAL"] seconds or after an hour
closes (`move_if_due`; one process does it for all, on Redis). Reading adds the tallies not
yet moved to the table's counts, and writes nothing.

A move takes the tallies out of the cache (at once, on Redis) and adds them to the table in
one transaction; if the database refuses, they are put back. A process that dies between the
two loses that batch, and nothing else. A request inside a transaction (ATOMIC_REQUESTS) moves
them once it commits, so that a rollback cannot take them along. With the local-memory cache,
tallies, like the cache, belong to one process: each process moves its own, and reading sees
the moved counts and the reading process's own.
"""

import logging
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import caches
from django.db import connections, router, transaction
from django.db.models import Sum

from . import rates
from .models import AbstractAPIKey, KeyUsage
from .rates import change_tallies, peek_tallies, take_tallies, warn_cache_unavailable
from .settings import api_keys_settings

logger = logging.getLogger("api_keys")

ACCEPTED, REFUSED = "accepted", "refused"
HOUR = 3600


def tally(api_key: AbstractAPIKey, outcome: str, now: float | None = None) -> str:
    """The name of a key's tally for the hour `now` falls in: "<hour>|<model>|<lookup id>|a"."""
    hour = int((rates.clock() if now is None else now) // HOUR)
    return f"{hour}|{api_key._meta.label_lower}|{api_key.lookup_id}|{outcome[0]}"


def parse_tally(name: str) -> tuple[int, str, str, str]:
    """(hour, model, lookup id, outcome "a" or "r") of a tally's name."""
    hour, model, rest = name.split("|", 2)
    lookup_id, outcome = rest.rsplit("|", 1)
    return int(hour), model, lookup_id, outcome


def refused_instead(accepted: str) -> dict[str, int]:
    """The change that turns a request counted as accepted into a refused one."""
    return {accepted: -1, accepted[:-1] + REFUSED[0]: 1}


def count_refused(api_key: AbstractAPIKey) -> None:
    """Count one refused request of `api_key` (when usage counting is on)."""
    if api_keys_settings().usage:
        change_tallies({tally(api_key, REFUSED): 1})


_next_move = 0.0  # clock() from which this process moves the tallies at its next request


def move_if_due() -> None:
    """Move the tallies if this process has not in API_KEYS["USAGE_FLUSH_INTERVAL"] seconds or
    since the hour closed, and no other process sharing the cache has in that slot."""
    global _next_move
    now = rates.clock()
    if now < _next_move:
        return
    interval = api_keys_settings().usage_flush_interval
    hour_ends = (now // HOUR + 1) * HOUR
    _next_move = min(now + interval, hour_ends)
    slot = f"api_keys:usage-moved:{int(now // HOUR)}:{int(now // interval)}"
    try:
        if not caches["default"].add(slot, 1, math.ceil(interval) + 1):
            return  # another process moves this slot's tallies
    except Exception as error:  # noqa: BLE001  the cache is down: nothing to move from it
        warn_cache_unavailable(error)
        return
    move_tallies_after_commit()


def pending(model: type[AbstractAPIKey]) -> list[tuple[str, datetime, str, int]]:
    """The tallies of `model`'s keys not yet moved: (lookup id, hour, outcome, requests)."""
    label = model._meta.label_lower
    found = []
    for name, amount in peek_tallies().items():
        hour, tally_model, lookup_id, outcome = parse_tally(name)
        if tally_model == label and amount:
            outcome = ACCEPTED if outcome == ACCEPTED[0] else REFUSED
            start = datetime.fromtimestamp(hour * HOUR, UTC)
            found.append((lookup_id, start, outcome, amount))
    return found


def move_tallies_after_commit() -> None:
    """`move_tallies` now or, inside a transaction (ATOMIC_REQUESTS, the admin's forms), once it
    commits: a rollback must not take the tallies along."""
    transaction.on_commit(move_tallies, using=router.db_for_write(KeyUsage))


def move_tallies() -> int:
    """Move every tally from the cache to the table; the number of requests moved."""
    taken = take_tallies()
    rows: dict[tuple[str, str, int], list[int]] = defaultdict(lambda: [0, 0])
    for name, amount in taken.items():
        hour, model, lookup_id, outcome = parse_tally(name)
        rows[(model, lookup_id, hour)][outcome != ACCEPTED[0]] += amount
    if not rows:
        return 0
    try:
        _add_to_table(rows)
    except Exception as error:  # noqa: BLE001  a move must not fail the request that makes it
        kept = change_tallies(taken)
        logger.warning(
            "Could not save usage counts (%s); %s.",
            type(error).__name__,
            "they stay in the cache" if kept else "the cache failed too, and they are lost",
        )
        return 0
    return sum(taken.values())


_UPSERT = (
    "INSERT INTO {table} ({key_model}, {lookup_id}, {hour}, {accepted}, {refused}) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT ({key_model}, {lookup_id}, {hour}) DO UPDATE SET "
    "{accepted} = {table}.{accepted} + excluded.{accepted}, "
    "{refused} = {table}.{refused} + excluded.{refused}"
)


def _add_to_table(rows: dict[tuple[str, str, int], list[int]]) -> None:
    """Add counts to their rows, creating the rows that do not exist yet: one statement per
    row on PostgreSQL and SQLite, whose INSERT ... ON CONFLICT adds atomically."""
    alias = router.db_for_write(KeyUsage)
    connection = connections[alias]
    hours = {row: datetime.fromtimestamp(row[2] * HOUR, UTC) for row in rows}
    with transaction.atomic(using=alias):
        if connection.vendor not in ("postgresql", "sqlite"):
            for row, (accepted, refused) in rows.items():
                usage, _ = (
                    KeyUsage.objects.using(alias)
                    .select_for_update()
                    .get_or_create(key_model=row[0], lookup_id=row[1], hour=hours[row])
                )
                usage.accepted += accepted
                usage.refused += refused
                usage.save(update_fields=[ACCEPTED, REFUSED])
            return
        quote = connection.ops.quote_name
        names = ("key_model", "lookup_id", "hour", "accepted", "refused")
        sql = _UPSERT.format(table=quote(KeyUsage._meta.db_table), **{n: quote(n) for n in names})
        adapt = connection.ops.adapt_datetimefield_value
        params = [  # in one order, so that two moves at once cannot deadlock
            (row[0], row[1], adapt(hours[row]), accepted, refused)
            for row, (accepted, refused) in sorted(rows.items())
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)


def usage_of(
    api_key: AbstractAPIKey, since: datetime, until: datetime, by: str = "day"
) -> list[dict[str, Any]]:
    """The key's counts from `since` to `until` (UTC; whole hours or days), by "hour" or "day":
    [{"start": datetime, "accepted": n, "refused": n}], one entry for each hour or day, zeros
    included, the tallies not yet moved counted in. `since` and `until` are rounded down to
    the hour or day, in UTC."""
    since, until = (_floor(moment, by) for moment in (since, until))
    step = timedelta(hours=1) if by == "hour" else timedelta(days=1)
    buckets: dict[datetime, dict[str, Any]] = {}
    start = since
    while start < until:
        buckets[start] = {"start": start, ACCEPTED: 0, REFUSED: 0}
        start += step
    rows = KeyUsage.objects.filter(
        key_model=api_key._meta.label_lower,
        lookup_id=api_key.lookup_id,
        hour__gte=since,
        hour__lt=until,
    )
    counts = [
        (hour, outcome, amount)
        for hour, accepted, refused in rows.values_list("hour", ACCEPTED, REFUSED)
        for outcome, amount in ((ACCEPTED, accepted), (REFUSED, refused))
    ]
    counts += [
        (hour, outcome, amount)
        for lookup_id, hour, outcome, amount in pending(type(api_key))
        if lookup_id == api_key.lookup_id
    ]
    for hour, outcome, amount in counts:
        start = hour.astimezone(UTC)
        bucket = buckets.get(start if by == "hour" else start.replace(hour=0))
        if bucket is not None:
            bucket[outcome] += amount
    return list(buckets.values())


def _floor(moment: datetime, by: str) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if by == "day" else moment


def requests_since(model: type[AbstractAPIKey], since: datetime) -> dict[str, int]:
    """Requests (accepted and refused) of each key of `model` since `since`, by lookup id, in
    one query, the tallies not yet moved counted in. Keys with none are left out."""
    totals = (
        KeyUsage.objects.filter(key_model=model._meta.label_lower, hour__gte=since)
        .values("lookup_id")
        .annotate(total=Sum(ACCEPTED) + Sum(REFUSED))
        .order_by()
    )
    found = {row["lookup_id"]: row["total"] for row in totals}
    for lookup_id, hour, _, amount in pending(model):
        if hour >= since:
            found[lookup_id] = found.get(lookup_id, 0) + amount
    return found
