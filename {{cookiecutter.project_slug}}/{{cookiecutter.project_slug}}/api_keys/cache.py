"""The verification cache: each process remembers the keys it verified, for a short time.

A hit costs no database query and no hash comparison against the stored hash. Entries are
found by a digest of the presented key (the key itself is never kept), and forgotten:
- when their time is up (API_KEYS["VERIFICATION_CACHE_TTL"] seconds);
- in this process, as soon as the key is saved, revoked or deleted here;
- in every other process, on their next use of the key, when the Django cache is shared
  (Redis): saving a key writes a new stamp there (again when its transaction commits), and a
  hit whose stamp differs is a miss. An entry keeps the stamp read before its key was
  queried, so a change saved while the query ran is not missed either.
Expiry needs no invalidation: the expiry time is checked on every hit.
"""

import hashlib
import threading
import time
import uuid
from collections import OrderedDict
from typing import TYPE_CHECKING

from django.core.cache import cache as shared_cache

from .settings import api_keys_settings

if TYPE_CHECKING:
    from .keys import ParsedKey
    from .models import AbstractAPIKey


def _stamp_name(model: type, lookup_id: str) -> str:
    return f"api_keys:stamp:{model._meta.label_lower}:{lookup_id}"


class VerificationCache:
    """A bounded, thread-safe map from presented keys to the key objects they verified as."""

    def __init__(self) -> None:
        self._entries: OrderedDict[bytes, tuple[AbstractAPIKey, float, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def digest(model: type, parsed: "ParsedKey") -> bytes:
        material = f"{model._meta.label_lower}\x00{parsed.lookup_id}\x00{parsed.secret}"
        return hashlib.sha256(material.encode()).digest()

    def get(self, model: type, parsed: "ParsedKey") -> "AbstractAPIKey | None":
        ttl = api_keys_settings().verification_cache_ttl
        if not ttl:
            return None
        digest = self.digest(model, parsed)
        with self._lock:
            entry = self._entries.get(digest)
        if entry is None:
            return None
        api_key, stored_at, stamp = entry
        current_stamp = shared_cache.get(_stamp_name(model, parsed.lookup_id))
        if time.monotonic() - stored_at > ttl or current_stamp != stamp:
            with self._lock:
                self._entries.pop(digest, None)
            return None
        return api_key

    def stamp(self, model: type, parsed: "ParsedKey") -> str | None:
        """The key's current stamp. Read it before querying the key, and give it to `put`."""
        if not api_keys_settings().verification_cache_ttl:
            return None
        return shared_cache.get(_stamp_name(model, parsed.lookup_id))

    def put(
        self, model: type, parsed: "ParsedKey", api_key: "AbstractAPIKey", stamp: str | None
    ) -> None:
        """Remember `api_key`, queried after `stamp` was read (see `stamp`)."""
        options = api_keys_settings()
        if not options.verification_cache_ttl:
            return
        digest = self.digest(model, parsed)
        with self._lock:
            self._entries[digest] = (api_key, time.monotonic(), stamp)
            self._entries.move_to_end(digest)
            while len(self._entries) > options.verification_cache_size:
                self._entries.popitem(last=False)

    def forget(self, api_key: "AbstractAPIKey") -> None:
        """Drop `api_key` here at once, and everywhere the shared cache reaches on next use."""
        label = api_key._meta.label_lower
        with self._lock:
            stale = [
                digest
                for digest, (cached, _, _) in self._entries.items()
                if cached.pk == api_key.pk and cached._meta.label_lower == label
            ]
            for digest in stale:
                del self._entries[digest]
        ttl = api_keys_settings().verification_cache_ttl
        # Outlives every entry stored before it; stamps are refreshed, never needed longer.
        name = _stamp_name(type(api_key), api_key.lookup_id)
        shared_cache.set(name, uuid.uuid4().hex, timeout=max(ttl, 1) * 2 + 60)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


verification_cache = VerificationCache()
