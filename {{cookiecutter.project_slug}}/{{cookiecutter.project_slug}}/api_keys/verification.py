"""The one verb that checks a presented key: `verify_key(manager, key) -> Verdict`.

Every check goes through it: the manager's `is_valid` and `get_from_key`, the key permissions
and the authentication class (through `permissions.check_request`, once per request), and
`APIKeyAuthentication.verify`. It
1. parses the key: a malformed key or a wrong checksum is refused with no query;
2. finds the row with the manager's one query, `find_usable_key` (`get_usable_keys()` by lookup
   id), so a custom manager's rules apply (for the stock rules, fast_lookup.py runs the same
   query, compiled once);
3. compares the secret's hash in constant time (an unknown lookup id is compared against a hash
   no secret matches, so a wrong secret tells nothing a wrong lookup id does not; the two do
   not cost the same, as docs/security.md says, and need not: lookup ids are not secret);
4. judges expiry.
Nothing is remembered between calls: a key whose access is removed, by any path and in any
process, is refused by the next check.

It knows the manager only by what it uses (`KeyStore`), so that models.py, whose methods with
djangorestframework-api-key's names wrap it, imports it without a cycle.
"""

from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from .fast_lookup import StockManager, find_usable_key
from .keys import UNUSABLE_HASH, KeyGenerator, TooManyAttempts


class StoredKey(Protocol):
    """What the verifier reads of a key object."""

    @property
    def hashed_key(self) -> str: ...

    @property
    def has_expired(self) -> bool: ...


_Key = TypeVar("_Key", bound=StoredKey)


class KeyStore(StockManager[_Key], Protocol[_Key]):
    """What the verifier uses of a manager (BaseAPIKeyManager is one)."""

    @property
    def key_generator(self) -> KeyGenerator: ...

    def replace_hash(self, api_key: _Key, secret: str) -> None: ...


ACCEPTED = "accepted"
_Found = TypeVar("_Found")


class Verdict(NamedTuple, Generic[_Found]):
    """What a presented key was found to be. `api_key` is the key it matched (accepted or
    expired), None when it matched none."""

    code: str  # ACCEPTED, or why not: "malformed_api_key", "invalid_api_key", ...
    message: str
    api_key: _Found | None = None
    retry_after: float | None = None  # TOO_MANY_ATTEMPTS: seconds until the client may retry

    @property
    def accepted(self) -> bool:
        return self.code == ACCEPTED


MALFORMED: Verdict[Any] = Verdict("malformed_api_key", "Malformed API key.")
INVALID: Verdict[Any] = Verdict("invalid_api_key", "Invalid API key.")
TOO_MANY_ATTEMPTS = "too_many_attempts"

# Not wrapped in `sensitive_variables`, to keep a request's path short: its callers are (the
# manager's checks, the key permissions, the authentication class). Django hides, in error
# reports, the variables of every frame called from a marked one.


def verify_key(manager: KeyStore[_Key], key: str, client: str = "") -> Verdict[_Key]:
    """Whether `key` may be used now: well formed, one of the manager's usable keys, unexpired.
    `client` (the address presenting it) is what caps on costly checks count by."""
    generator = manager.key_generator
    parsed = generator.parse(key)
    if parsed is None:
        return MALFORMED
    api_key = find_usable_key(manager, parsed.lookup_id)
    stored = UNUSABLE_HASH if api_key is None else api_key.hashed_key
    try:
        matches = generator.verify_secret(parsed.secret, stored, client=client)
    except TooManyAttempts as refused:
        message = "Too many attempts with this API key from this address; retry later."
        return Verdict(TOO_MANY_ATTEMPTS, message, None, refused.wait)
    if not matches or api_key is None:
        return INVALID
    if not generator.using_preferred_hasher(stored):
        manager.replace_hash(api_key, parsed.secret)
    if api_key.has_expired:
        return Verdict("expired_api_key", "API key has expired.", api_key)
    return Verdict(ACCEPTED, "", api_key)
