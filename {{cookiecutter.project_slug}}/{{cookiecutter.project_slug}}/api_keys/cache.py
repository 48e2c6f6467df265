"""Verdicts remembered until the database changes, on SQLite.

SQLite tells a connection, for the price of a pragma, whether any other connection (in this
process or another) has committed a change since (`PRAGMA data_version`), and counts the rows
the connection itself has changed (`total_changes`). A verdict remembered with both values holds
exactly as long as neither moves: any change to the database, by any process and through any
path (the ORM, raw SQL, a cascade, a table that `get_usable_keys()` reads), turns every
remembered verdict into a miss, and the next check queries again. So a key whose access is
removed is refused by the next request, as without this cache. PostgreSQL offers no such
signal cheaper than the query itself, so there every check queries.

Verdicts are kept per thread (a connection belongs to one thread), by a digest of the key as
presented (never the key), accepted and refused apart so that junk cannot push good keys out.
Only keys of managers with the stock rules are remembered, outside transactions.
"""

import hashlib
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from django.db import connections

if TYPE_CHECKING:
    from .models import AbstractAPIKey

MOST_REMEMBERED = 10_000  # accepted keys per thread; as many refused ones


class _Verdicts(threading.local):
    def __init__(self) -> None:
        self.stamp: tuple[Any, int, int] | None = None
        self.accepted: OrderedDict[bytes, AbstractAPIKey] = OrderedDict()
        self.refused: OrderedDict[bytes, None] = OrderedDict()
        self.cursor: Any = None  # a cursor of `connection`, kept for the pragma
        self.connection: Any = None
        # This thread's Django connection by alias: the same object for the thread's life.
        self.wrappers: dict[str, Any] = {}


_verdicts = _Verdicts()


def database_stamp(alias: str) -> tuple[Any, int, int] | None:
    """What changes whenever the database does, as seen from this thread's connection; None
    where verdicts cannot be remembered (not SQLite, inside a transaction, or the pragma failed:
    the query that follows then fails as any query would)."""
    connection = _verdicts.wrappers.get(alias)
    if connection is None:
        connection = _verdicts.wrappers[alias] = connections[alias]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return None
    if connection.connection is None:
        connection.ensure_connection()
    raw = connection.connection
    try:
        if _verdicts.connection is not raw:
            _verdicts.cursor, _verdicts.connection = raw.cursor(), raw
        (version,) = _verdicts.cursor.execute("PRAGMA data_version").fetchone()
    except Exception:
        _verdicts.cursor = _verdicts.connection = None
        return None
    return raw, version, raw.total_changes


_labels: dict[type, bytes] = {}


def digest(model: "type[AbstractAPIKey]", key: str) -> bytes:
    label = _labels.get(model)
    if label is None:
        label = _labels[model] = f"{model._meta.label_lower}\x00".encode()
    return hashlib.sha256(label + key.encode()).digest()


def recall(stamp: tuple[Any, int, int], name: bytes) -> "tuple[bool, AbstractAPIKey | None]":
    """(True, key or None for a refusal) if a verdict on `name` holds at `stamp`, else
    (False, None). A new stamp forgets every verdict."""
    if _verdicts.stamp != stamp:
        _verdicts.stamp = stamp
        _verdicts.accepted.clear()
        _verdicts.refused.clear()
        return False, None
    api_key = _verdicts.accepted.get(name)
    if api_key is not None:
        return True, api_key
    return name in _verdicts.refused, None


def remember(stamp: tuple[Any, int, int], name: bytes, api_key: "AbstractAPIKey | None") -> None:
    """Keep the verdict on `name`, found by a query made after `stamp` was read."""
    if _verdicts.stamp != stamp:
        return
    entries: OrderedDict[bytes, Any] = _verdicts.refused if api_key is None else _verdicts.accepted
    entries[name] = api_key
    if len(entries) > MOST_REMEMBERED:
        entries.popitem(last=False)


def forget_all() -> None:
    """Forget this thread's verdicts (tests use it; changes need no call)."""
    _verdicts.stamp = _verdicts.cursor = _verdicts.connection = None
    _verdicts.wrappers.clear()
    _verdicts.accepted.clear()
    _verdicts.refused.clear()
