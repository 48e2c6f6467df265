"""Keys made by djangorestframework-api-key, read as they are, so that clients keep theirs.

Its keys read `<prefix>.<secret>` (letters and digits, 8.32 unless its KeyGenerator was given
other lengths); the prefix is the lookup id, and the whole key is what was hashed. Their stored
hashes are `sha512$$<hex digest>` (version 3) or a Django password hasher's (before 3.0).
`LegacyKeyGenerator` reads both beside this project's own keys and hashes; a key stored in an
old format gets the current SHA-256 hash on its first use (verification.py).

A password hasher takes a quarter of a second, so a forged secret for the lookup id of a key
that still has such a hash would be a cheap way to burn CPU: checks of one lookup id are capped
at `slow_hash_rate` per client (its address), counted with the app's one counter (rates.py).
Past the cap, that client's checks of that lookup id get TooManyAttempts (a 429 with
Retry-After) until the window ends; other clients, the key's owner among them, are not held
back by its failures.
"""

import hashlib
import hmac
import re

from django.contrib.auth.hashers import check_password
from django.views.decorators.debug import sensitive_variables

from .keys import (
    HASH_ALGORITHM,
    LOOKUP_ID_MAX_LENGTH,
    MAX_KEY_LENGTH,
    KeyGenerator,
    ParsedKey,
    TooManyAttempts,
)
from .rates import Window, count_hits

LEGACY_KEY = re.compile("([A-Za-z0-9]{1," + str(LOOKUP_ID_MAX_LENGTH) + r"})\.[A-Za-z0-9]+")
LEGACY_HASH_PREFIX = "sha512$$"


class LegacyKeyGenerator(KeyGenerator):
    """This project's keys, and djangorestframework-api-key's keys and hashes."""

    slow_hash_rate = "10/min"  # password-hasher checks allowed per lookup id and client

    @sensitive_variables()
    def parse(self, key: str) -> ParsedKey | None:
        parsed = super().parse(key)
        if parsed is None and len(key) <= MAX_KEY_LENGTH and (match := LEGACY_KEY.fullmatch(key)):
            return ParsedKey(lookup_id=match[1], secret=key)
        return parsed

    @sensitive_variables()
    def verify_secret(self, secret: str, hashed_key: str, *, client: str = "") -> bool:
        if hashed_key.startswith(f"{HASH_ALGORITHM}$"):
            return super().verify_secret(secret, hashed_key, client=client)
        if hashed_key.startswith(LEGACY_HASH_PREFIX):
            digest = hashlib.sha512(secret.encode()).hexdigest()
            return hmac.compare_digest(LEGACY_HASH_PREFIX + digest, hashed_key)
        lookup_id = secret.partition(".")[0]  # a legacy key's secret is the whole key
        window = Window.of(f"slow_hash:{lookup_id}:{client}", self.slow_hash_rate)
        counts = count_hits([window])
        if counts is not None and counts[0] > window.limit:
            raise TooManyAttempts(window.seconds_left())
        return check_password(secret, hashed_key)
