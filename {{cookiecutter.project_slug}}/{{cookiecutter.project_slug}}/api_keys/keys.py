"""Key generation, format, checksum and hashing. Pure functions: no database, no request.

A key reads `<brand>_<lookup id>_<secret><checksum>`, e.g. `myapi_4fTq0c9ZbLw2_...`:
- the lookup id finds the row (it is stored in clear, and shown in the admin and in logs);
- the secret, 32 base62 characters (190 bits from `secrets`), is stored only as a SHA-256 digest;
- the checksum, CRC32 of everything before it in 6 base62 characters, lets a typo or a random
  string be refused without a database query, and lets scanners check a match.
"""

import hashlib
import hmac
import math
import re
import string
import zlib
from dataclasses import dataclass, field
from functools import cache

from django.utils.crypto import get_random_string
from django.views.decorators.debug import sensitive_variables

from .settings import api_keys_settings

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase  # base62
CHECKSUM_LENGTH = 6
# Model field sizes: room for the lookup ids and hashes of imported keys too.
LOOKUP_ID_MAX_LENGTH = 16
HASHED_KEY_MAX_LENGTH = 150
# Lengths of new keys, whether API_KEYS or KeyGenerator's arguments set them: 27 base62
# characters carry 160 bits, and the longest brand (20), lookup id and secret add up to 108.
LOOKUP_ID_LENGTHS = range(8, LOOKUP_ID_MAX_LENGTH + 1)
SECRET_LENGTHS = range(27, 64 + 1)
# Anything longer than this is refused before it is parsed.
MAX_KEY_LENGTH = 128

HASH_ALGORITHM = "sha256"
# Compared against when no key has the lookup id, so that an unknown id is hashed too.
UNUSABLE_HASH = f"{HASH_ALGORITHM}${'0' * 64}"


class TooManyAttempts(Exception):
    """A check refused before its cost is paid: its client has made too many; `wait` is the
    seconds until it may try again."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"Too many attempts; retry in {math.ceil(wait)} s.")
        self.wait = wait


@dataclass(frozen=True, slots=True)
class ParsedKey:
    """A well-formed key split into the part that finds the row and the part that is hashed."""

    lookup_id: str
    secret: str = field(repr=False)


def to_base62(number: int, width: int) -> str:
    """`number` in base62, left-padded with zeros to `width` characters."""
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, ALPHABET[0])


def checksum(body: str) -> str:
    """The CRC32 of `body` as 6 base62 characters."""
    return to_base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


@cache
def _key_pattern(brand: str, lookup_id_length: int, secret_length: int) -> re.Pattern[str]:
    """Groups: the checksummed body, the lookup id, the secret, the checksum."""
    lookup_id, secret, check = (
        "([0-9A-Za-z]{" + str(length) + "})"
        for length in (lookup_id_length, secret_length, CHECKSUM_LENGTH)
    )
    return re.compile(f"({re.escape(brand)}_{lookup_id}_{secret}){check}")


def is_allowed_length(value: object, allowed: range) -> bool:
    """Whether `value` is a whole number (not a bool) in `allowed`."""
    return isinstance(value, int) and not isinstance(value, bool) and value in allowed


def _checked_length(name: str, value: int | None, allowed: range, reason: str) -> int | None:
    if value is not None and not is_allowed_length(value, allowed):
        raise ValueError(
            f"{name} must be a whole number from {allowed[0]} to {allowed[-1]} ({reason}), "
            f"not {value!r}."
        )
    return value


class KeyGenerator:
    """Makes keys, parses presented keys, hashes and verifies secrets.

    `prefix_length` (of the lookup id) and `secret_key_length` default to API_KEYS'
    LOOKUP_ID_LENGTH and SECRET_LENGTH; `brand` to API_KEYS["BRAND"].
    """

    def __init__(
        self,
        prefix_length: int | None = None,
        secret_key_length: int | None = None,
        *,
        brand: str | None = None,
    ) -> None:
        self._prefix_length = _checked_length(
            "prefix_length",
            prefix_length,
            LOOKUP_ID_LENGTHS,
            f"as API_KEYS['LOOKUP_ID_LENGTH']; the lookup id column holds {LOOKUP_ID_MAX_LENGTH}",
        )
        self._secret_key_length = _checked_length(
            "secret_key_length",
            secret_key_length,
            SECRET_LENGTHS,
            "as API_KEYS['SECRET_LENGTH']; fewer carry under 160 bits, more make keys too long",
        )
        self._brand = brand

    @property
    def brand(self) -> str:
        return self._brand or api_keys_settings().brand

    @property
    def prefix_length(self) -> int:
        """Characters of the lookup id of the keys this generator makes and reads."""
        return self._prefix_length or api_keys_settings().lookup_id_length

    @property
    def secret_key_length(self) -> int:
        """Characters of the secret of the keys this generator makes and reads."""
        return self._secret_key_length or api_keys_settings().secret_length

    def get_prefix(self) -> str:
        """A new lookup id."""
        return get_random_string(self.prefix_length, ALPHABET)

    def get_secret_key(self) -> str:
        """A new secret."""
        return get_random_string(self.secret_key_length, ALPHABET)

    def generate(self) -> tuple[str, str, str]:
        """A new key, as (key, lookup id, hashed key). Only the key itself is secret."""
        lookup_id, secret = self.get_prefix(), self.get_secret_key()
        body = f"{self.brand}_{lookup_id}_{secret}"
        return body + checksum(body), lookup_id, self.hash_secret(secret)

    def key_pattern(self) -> str:
        """The regular expression that finds this generator's keys in text, for secret scanners
        (GitHub's, findapikeys): a match is a key only if `parse` accepts its checksum."""
        lookup_id, secret = (
            "[0-9A-Za-z]{" + str(length) + "}"
            for length in (self.prefix_length, self.secret_key_length + CHECKSUM_LENGTH)
        )
        return rf"\b{re.escape(self.brand)}_{lookup_id}_{secret}\b"

    @sensitive_variables()
    def parse(self, key: str) -> ParsedKey | None:
        """Split a presented key, or None if it is malformed or its checksum is wrong."""
        if len(key) > MAX_KEY_LENGTH:
            return None
        pattern = _key_pattern(self.brand, self.prefix_length, self.secret_key_length)
        match = pattern.fullmatch(key)
        if match is None:
            return None
        body, lookup_id, secret, check = match.groups()
        if not hmac.compare_digest(check, checksum(body)):
            return None
        return ParsedKey(lookup_id=lookup_id, secret=secret)

    @sensitive_variables()
    def hash(self, value: str) -> str:
        """The stored form of a whole key, or of a secret: `sha256$<hex digest>` of the secret."""
        parsed = self.parse(value)
        return self.hash_secret(value if parsed is None else parsed.secret)

    def hash_secret(self, secret: str) -> str:
        return f"{HASH_ALGORITHM}${hashlib.sha256(secret.encode()).hexdigest()}"

    @sensitive_variables()
    def verify_secret(self, secret: str, hashed_key: str, *, client: str = "") -> bool:
        """Whether `secret` matches `hashed_key`, compared in constant time. `client` says who
        presents it (an address): a generator with costly hashes caps checks per client, and
        raises TooManyAttempts past the cap."""
        return hmac.compare_digest(self.hash_secret(secret), hashed_key)

    @sensitive_variables()
    def verify(self, key: str, hashed_key: str) -> bool:
        """Whether the whole `key` matches `hashed_key`."""
        parsed = self.parse(key)
        return parsed is not None and self.verify_secret(parsed.secret, hashed_key)

    def using_preferred_hasher(self, hashed_key: str) -> bool:
        """Whether `hashed_key` is in the current format; a key stored in another one gets the
        current hash when it is next accepted."""
        return hashed_key.startswith(f"{HASH_ALGORITHM}$")
