"""Verdicts remembered until the database changes, on SQLite.

SQLite lets any process see, cheaply, whether the database has changed. In rollback-journal
mode (SQLite's default, and this project's), every transaction that changes the database file
increments the file change counter in its header, before the writer's COMMIT returns: bytes
24-27 of the file, which SQLite itself reads to tell whether its page cache still holds
(https://www.sqlite.org/fileformat.html, "File change counter"). The header's first page is
mapped into memory, shared with the operating system's copy of the file, so reading those bytes
is a memory read: no system call and no lock, and a write by any process is seen by the next
read. In WAL mode, whose header says so (bytes 18-19 are 2), the counter is not kept up to
date, so `PRAGMA data_version` is asked instead: a read transaction, which changes whenever
another connection has committed. And the connection's `total_changes` counts the rows it has
changed itself.

A verdict remembered with these values holds exactly as long as none of them moves: any change
to the database, by any process and through any path (the ORM, raw SQL, a cascade, a table
that `get_usable_keys()` reads), turns every remembered verdict into a miss, and the next check
queries again. So a key whose access is removed is refused by the next request, as without
this cache. A database in memory, or opened with `locking_mode=EXCLUSIVE`, uses the pragma, as
does Windows. PostgreSQL offers no such signal cheaper than the query itself, so there every
check queries. (SQLite never shrinks a database file below its first page; a file cut to
nothing under a running process, by another program, would stop that process with SIGBUS at
its next check, where a query would have failed.)

Verdicts are kept per thread (a connection belongs to one thread), by a digest of the key as
presented (never the key), accepted and refused apart so that junk cannot push good keys out.
Only keys of managers with the stock rules are remembered, outside transactions.
"""

import hashlib
import mmap
import os
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from django.db import connections

if TYPE_CHECKING:
    from .models import AbstractAPIKey

MOST_REMEMBERED = 10_000  # accepted keys per thread; as many refused ones
# The header bytes read: 18-19, the file format's write and read versions (1: rollback
# journal, 2: WAL), to 24-27, the file change counter.
HEADER_OFFSET, HEADER_END = 18, 28
ROLLBACK_JOURNAL = b"\x01\x01"
MAPS_FILES = os.name == "posix"  # not on Windows, where SQLite could not shrink a mapped file


class _Verdicts(threading.local):
    def __init__(self) -> None:
        self.stamp: tuple[Any, Any, int] | None = None
        self.accepted: OrderedDict[bytes, AbstractAPIKey] = OrderedDict()
        self.refused: OrderedDict[bytes, None] = OrderedDict()
        self.cursor: Any = None  # a cursor of `connection`, kept for the pragma
        self.connection: Any = None
        # The header of `connection`'s database file, mapped (None: in memory, or exclusive
        # locking); unmapped when dropped, for another connection or with the thread.
        self.header: mmap.mmap | None = None


_verdicts = _Verdicts()


def database_stamp(alias: str) -> tuple[Any, Any, int] | None:
    """What changes whenever the database does, as seen from this thread's connection; None
    where verdicts cannot be remembered (not SQLite, inside a transaction, or SQLite could not
    be asked: the query that follows then fails as any query would)."""
    connection = connections[alias]
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        return None
    if connection.connection is None:
        connection.ensure_connection()
    raw = connection.connection
    try:
        if _verdicts.connection is not raw:
            _verdicts.cursor, _verdicts.connection = raw.cursor(), raw
            _verdicts.header = _map_header(_verdicts.cursor)
        if _verdicts.header is not None:
            header = _verdicts.header[HEADER_OFFSET:HEADER_END]
            if header[:2] == ROLLBACK_JOURNAL:
                return raw, header, raw.total_changes
        (version,) = _verdicts.cursor.execute("PRAGMA data_version").fetchone()
    except Exception:
        _verdicts.cursor = _verdicts.connection = _verdicts.header = None
        return None
    return raw, version, raw.total_changes


def _map_header(cursor: Any) -> mmap.mmap | None:
    """The header of the connection's main database file, mapped read-only and shared; None
    for a database in memory, one whose lock is held for good (in `locking_mode=EXCLUSIVE` the
    counter moves only once), or a file this process cannot map."""
    if not MAPS_FILES:
        return None
    (locking_mode,) = cursor.execute("PRAGMA locking_mode").fetchone()
    files = {name: file for _, name, file in cursor.execute("PRAGMA database_list")}
    path = files.get("main")
    if not path or str(locking_mode).lower() != "normal":
        return None
    try:
        with open(path, "rb") as file:  # the map keeps a descriptor of its own
            return mmap.mmap(file.fileno(), HEADER_END, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # unreadable, or shorter than the header: the pragma answers
        return None


_labels: dict[type, bytes] = {}


def digest(model: "type[AbstractAPIKey]", key: str) -> bytes:
    label = _labels.get(model)
    if label is None:
        label = _labels[model] = f"{model._meta.label_lower}\x00".encode()
    return hashlib.sha256(label + key.encode()).digest()


def recall(stamp: tuple[Any, Any, int], name: bytes) -> "tuple[bool, AbstractAPIKey | None]":
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


def remember(stamp: tuple[Any, Any, int], name: bytes, api_key: "AbstractAPIKey | None") -> None:
    """Keep the verdict on `name`, found by a query made after `stamp` was read."""
    if _verdicts.stamp != stamp:
        return
    entries: OrderedDict[bytes, Any] = _verdicts.refused if api_key is None else _verdicts.accepted
    entries[name] = api_key
    if len(entries) > MOST_REMEMBERED:
        entries.popitem(last=False)


def forget_all() -> None:
    """Forget this thread's verdicts (tests use it; changes need no call)."""
    _verdicts.stamp = _verdicts.cursor = _verdicts.connection = _verdicts.header = None
    _verdicts.accepted.clear()
    _verdicts.refused.clear()
