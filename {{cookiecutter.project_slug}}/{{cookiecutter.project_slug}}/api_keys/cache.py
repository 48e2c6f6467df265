"""The verification cache: each process remembers, for a short time, the keys it checked.

It remembers both verdicts: keys it accepted (a hit costs no query and no hash comparison) and
keys it refused (unknown, revoked, wrong secret), which a client retrying a dead key, or
anyone sending well-formed junk, would otherwise make cost a query each. Refusals are kept in
a map of their own, so that a flood of bad keys cannot push good ones out. Entries are found
by a digest of the key as presented (the key itself is never kept), so a hit needs no parsing
of the key either, and are forgotten:
- when their time is up (API_KEYS["VERIFICATION_CACHE_TTL"] seconds);
- in this process, as soon as a key with that lookup id is saved, revoked or deleted here;
- in every other process, on their next use of the key, when the Django cache is shared
  (Redis, Memcached, database, files): saving a key writes a new stamp there under its lookup
  id (again when its transaction commits), and a hit whose stamp differs is a miss. An entry
  keeps the stamp read before its key was queried, so a change saved while the query ran is
  not missed either.
With a per-process Django cache (local memory, dummy) a stamp could never tell this process
anything that `forget` has not already done, so none is read or written: a hit then costs no
cache call at all, and a change saved in this process while a query ran is caught by a
counter of changes instead. Expiry needs no invalidation: it is checked on every hit.
"""

import hashlib
import threading
import time
import uuid
from collections import OrderedDict
from functools import cache
from typing import TYPE_CHECKING, Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed

from .settings import api_keys_settings

if TYPE_CHECKING:
    from .models import AbstractAPIKey


def _stamp_name(model: type, lookup_id: str) -> str:
    return f"api_keys:stamp:{model._meta.label_lower}:{lookup_id}"


@cache
def stamps_are_shared() -> bool:
    """Whether the default Django cache reaches other processes, so stamps are worth a read."""
    return not isinstance(caches[DEFAULT_CACHE_ALIAS], LocMemCache | DummyCache)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "CACHES":
        stamps_are_shared.cache_clear()


setting_changed.connect(_reload)


class VerificationCache:
    """Bounded, thread-safe maps from presented keys to the verdicts they were given."""

    def __init__(self) -> None:
        # digest -> (key object, time stored, stamp)
        self._entries: OrderedDict[bytes, tuple[AbstractAPIKey, float, str | None]] = OrderedDict()
        # digest -> (lookup id, time stored, stamp)
        self._refusals: OrderedDict[bytes, tuple[str, float, str | None]] = OrderedDict()
        # Counts the changes forgotten in this process: the stamp of a per-process cache.
        self._changes = 0
        self._lock = threading.Lock()

    @staticmethod
    def digest(model: type, key: str) -> bytes:
        return hashlib.sha256(f"{model._meta.label_lower}\x00{key}".encode()).digest()

    def lookup(self, model: type, key: str) -> "tuple[bool, AbstractAPIKey | None]":
        """For `key` as presented: (True, key object) if it was accepted lately, (True, None)
        if it was refused lately, and (False, None) when this process has no verdict that
        still holds."""
        ttl = api_keys_settings().verification_cache_ttl
        if not ttl:
            return False, None
        digest = self.digest(model, key)
        with self._lock:
            entry = self._entries.get(digest)
            refusal = self._refusals.get(digest) if entry is None else None
        if entry is not None:
            api_key, stored_at, stamp = entry
            if self._holds(model, api_key.lookup_id, stored_at, stamp, ttl):
                return True, api_key
            with self._lock:
                self._entries.pop(digest, None)
        elif refusal is not None:
            lookup_id, stored_at, stamp = refusal
            if self._holds(model, lookup_id, stored_at, stamp, ttl):
                return True, None
            with self._lock:
                self._refusals.pop(digest, None)
        return False, None

    def _holds(
        self, model: type, lookup_id: str, stored_at: float, stamp: str | None, ttl: float
    ) -> bool:
        if time.monotonic() - stored_at > ttl:
            return False
        if not stamps_are_shared():
            return True  # `forget` already dropped every entry a change here made stale
        return caches[DEFAULT_CACHE_ALIAS].get(_stamp_name(model, lookup_id)) == stamp

    def stamp(self, model: type, lookup_id: str) -> str | None:
        """The current stamp of the key with `lookup_id`. Read it before querying the key,
        and give it to `put` or `refuse`."""
        if not api_keys_settings().verification_cache_ttl:
            return None
        if not stamps_are_shared():
            return str(self._changes)
        return caches[DEFAULT_CACHE_ALIAS].get(_stamp_name(model, lookup_id))

    def put(self, model: type, key: str, api_key: "AbstractAPIKey", stamp: str | None) -> None:
        """Remember that `key` is `api_key`, queried after `stamp` was read (see `stamp`)."""
        self._remember(self._entries, model, key, api_key, stamp)

    def refuse(self, model: type, key: str, lookup_id: str, stamp: str | None) -> None:
        """Remember that `key`, with `lookup_id`, matched no usable key, queried after `stamp`
        was read."""
        self._remember(self._refusals, model, key, lookup_id, stamp)

    def _remember(
        self, entries: OrderedDict, model: type, key: str, value: Any, stamp: str | None
    ) -> None:
        options = api_keys_settings()
        if not options.verification_cache_ttl:
            return
        digest = self.digest(model, key)
        shared = stamps_are_shared()
        with self._lock:
            if not shared and stamp != str(self._changes):
                return  # a key changed here while this one was queried: the row may be stale
            entries[digest] = (value, time.monotonic(), stamp)
            entries.move_to_end(digest)
            while len(entries) > options.verification_cache_size:
                entries.popitem(last=False)

    def forget(self, api_key: "AbstractAPIKey") -> None:
        """Drop `api_key`'s verdicts here at once, and everywhere the shared cache reaches on
        their next use."""
        label = api_key._meta.label_lower
        with self._lock:
            self._changes += 1
            stale = [
                digest
                for digest, (cached, _, _) in self._entries.items()
                if cached.pk == api_key.pk and cached._meta.label_lower == label
            ]
            for digest in stale:
                del self._entries[digest]
            # A refusal names no model, so one for the same lookup id in another model goes
            # too: the cost is a query, never a wrong verdict.
            lookup_id = api_key.lookup_id
            for digest in [d for d, entry in self._refusals.items() if entry[0] == lookup_id]:
                del self._refusals[digest]
        if not stamps_are_shared():
            return
        ttl = api_keys_settings().verification_cache_ttl
        # Outlives every entry stored before it; stamps are refreshed, never needed longer.
        name = _stamp_name(type(api_key), api_key.lookup_id)
        caches[DEFAULT_CACHE_ALIAS].set(name, uuid.uuid4().hex, timeout=max(ttl, 1) * 2 + 60)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._refusals.clear()

    def __len__(self) -> int:
        """The number of accepted keys remembered (refusals are not counted)."""
        return len(self._entries)


verification_cache = VerificationCache()
