"""The one place a presented key is checked: parsed, looked up with one query, compared in
constant time, and judged (revoked, expired). Nothing outlives a change to the database (see
cache.py), so a key whose access is removed, in any way and by any process, is refused by the
next request.

    verify_key(manager, key)             -> Verdict      (the manager's is_valid, and verify())
    verify_request(request, model, key) -> Verdict      (once per request; records the use)
    verified_key(request)                -> key object   (what the throttle and usage log read)
"""

import logging
import time
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from django.core.cache import cache

from .cache import database_stamp, digest, recall, remember
from .keys import UNUSABLE_HASH
from .settings import api_keys_settings, parse_rate

if TYPE_CHECKING:
    from .models import AbstractAPIKey, BaseAPIKeyManager
    from .permissions import BaseHasAPIKey

_Key = TypeVar("_Key", bound="AbstractAPIKey")


logger = logging.getLogger("api_keys")


class Verdict(NamedTuple):
    """What a presented key was found to be. `api_key` is set only when it is accepted."""

    code: str  # "accepted", or why not: "malformed_api_key", "invalid_api_key", ...
    message: str
    api_key: "AbstractAPIKey | None" = None

    @property
    def accepted(self) -> bool:
        return self.api_key is not None


MALFORMED = Verdict("malformed_api_key", "Malformed API key.")
INVALID = Verdict("invalid_api_key", "Invalid API key.")
EXPIRED = Verdict("expired_api_key", "API key has expired.")


# The functions a key goes through here are not wrapped in `sensitive_variables` one by one, to
# keep a request's path short: call them from a function that is (as the authentication class,
# the key permissions and the manager's checks do). Django hides, in error reports, the
# variables of every frame called from a marked one.


def find_key(manager: "BaseAPIKeyManager[_Key]", key: str) -> "tuple[bool, _Key | None]":
    """(well formed, the key of `manager.get_usable_keys()` that `key` belongs to or None),
    expired or not.

    A malformed key or a wrong checksum costs no query; any other key costs one, unless SQLite
    says the database has not changed since this thread last checked it (see cache.py). An
    unknown lookup id is hashed and compared like a wrong secret, so the two take one path.
    """
    model = manager.model
    stamp = name = None
    if manager.uses_stock_rules() and (stamp := database_stamp(manager.db)) is not None:
        name = digest(model, key)
        known, remembered = recall(stamp, name)
        if known:  # remembered for this manager's model, by the digest's model label
            return True, remembered  # type: ignore[return-value]  # (no cast: a call per hit)
    generator = manager.key_generator
    parsed = generator.parse(key)
    if parsed is None:
        return False, None
    api_key = manager.find_usable_key(parsed.lookup_id)
    hashed_key = api_key.hashed_key if api_key is not None else UNUSABLE_HASH
    if generator.is_slow_hash(hashed_key) and not _may_check_slow_hash(model, parsed.lookup_id):
        return True, None  # not a verdict on the key: nothing to remember
    if not generator.verify_secret(parsed.secret, hashed_key) or api_key is None:
        api_key = None
    elif generator.needs_rehash(hashed_key):
        api_key.hashed_key = generator._hash_secret(parsed.secret)  # parsed already
        model._base_manager.filter(pk=api_key.pk).update(hashed_key=api_key.hashed_key)
    if stamp is not None and name is not None:
        remember(stamp, name, api_key)
    return True, api_key


def verify_key(manager: "BaseAPIKeyManager[Any]", key: str) -> Verdict:
    """Whether `key` may be used now: well formed, one of the manager's usable keys, unexpired."""
    well_formed, api_key = find_key(manager, key)
    if not well_formed:
        return MALFORMED
    if api_key is None:
        return INVALID
    if api_key.has_expired:
        return EXPIRED
    return Verdict("accepted", "", api_key)


# What one request's key checks found, on the Django request (a DRF Request passes attributes
# through to it): the key each kind of key permission reads, and the verdicts by model and key,
# so that the authentication class and the permissions read and check a key once.
_MEMO = "_api_keys_memo"
_VERIFIED = "_verified_api_key"  # the key the request was accepted with
_UNREAD: Any = object()  # in the memo: this kind of permission has not read the key yet


def _attributes(request: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = getattr(request, "_request", request).__dict__
    return attributes


def _memo(attributes: dict[str, Any]) -> dict[Any, Any]:
    memo: dict[Any, Any] | None = attributes.get(_MEMO)
    if memo is None:
        memo = attributes[_MEMO] = {}
    return memo


def verify_request(request: Any, model: "type[AbstractAPIKey]", key: str) -> Verdict:
    """`verify_key` for a request, done at most once per request, model and key; the first key
    accepted is recorded as used and becomes `verified_key(request)`."""
    attributes = _attributes(request)
    memo = _memo(attributes)
    verdict: Verdict | None = memo.get((model, key))
    if verdict is None:
        manager = model.objects
        verdict = memo[(model, key)] = verify_key(manager, key)
        if verdict.api_key is not None and attributes.get(_VERIFIED) is None:
            attributes[_VERIFIED] = verdict.api_key
            manager.record_use(verdict.api_key)
    return verdict


def presented_key(request: Any, permission: "BaseHasAPIKey") -> str | None:
    """`permission.get_key(request)`, read once per request and kind of key permission (its
    class, model and parser), so that the authentication class and the permission read the
    request's key once between them."""
    memo = _memo(_attributes(request))
    kind = (type(permission), permission.model, permission.key_parser)
    try:
        key: str | None = memo.get(kind, _UNREAD)
    except TypeError:  # a parser that cannot be hashed: read the key again
        return permission.get_key(request)
    if key is _UNREAD:
        key = memo[kind] = permission.get_key(request)
    return key


def permission_verdict(request: Any, permission: "BaseHasAPIKey") -> Verdict | None:
    """The verdict on the key `permission` reads from `request`, or None if it reads none."""
    key = presented_key(request, permission)
    if key is None or permission.model is None:
        return None
    return verify_request(request, permission.model, key)


def verified_key(request: Any) -> "AbstractAPIKey | None":
    """The key this request was accepted with, by whichever class checked it (an
    authentication class of your own that sets `request.auth` to a key included), or None."""
    api_key: AbstractAPIKey | None = _attributes(request).get(_VERIFIED)
    if api_key is not None:
        return api_key
    from .models import AbstractAPIKey as KeyModel  # models.py imports this module

    auth = getattr(getattr(request, "_request", request), "auth", None)
    return auth if isinstance(auth, KeyModel) else None


# Imported keys hashed with a password hasher cost a full hasher run to check (a quarter of a
# second for PBKDF2): a forged secret for a known lookup id would be a cheap way to burn CPU.
_last_warning = 0.0


def _may_check_slow_hash(model: "type[AbstractAPIKey]", lookup_id: str) -> bool:
    """Whether one more slow-hash check of this lookup id fits API_KEYS["SLOW_HASH_RATE"]."""
    limit, period = parse_rate(api_keys_settings().slow_hash_rate)
    window = int(time.time() // period)
    name = f"api_keys:slow_hash:{model._meta.label_lower}:{lookup_id}:{window}"
    try:
        cache.add(name, 0, period + 1)
        return cache.incr(name) <= limit
    except Exception as error:  # the cache is down: check the key (availability over the cap)
        warn_cache_unavailable(error, "slow-hash checks are not capped")
        return True


def warn_cache_unavailable(error: Exception, consequence: str) -> None:
    """Log, at most once a minute per process, that the cache failed and what follows. Only the
    error's type: its text may hold the cache's address and credentials."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning >= 60:
        _last_warning = now
        logger.warning("The cache is unavailable (%s): %s.", type(error).__name__, consequence)
