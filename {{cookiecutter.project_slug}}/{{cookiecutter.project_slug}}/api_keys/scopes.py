"""What a scope may look like, and how a list of them is stored: sorted, each once.

The admin form and createapikey read scopes through these functions; views declare the scopes
they require, and the permission class compares them with the key's.
"""

import re
from collections.abc import Iterable

SCOPE = re.compile(r"[a-z0-9_.:-]+")
SCOPE_RULE = "lowercase letters, digits and _ . : - only, e.g. orders:read"
SEPARATORS = re.compile(r"[\s,]+")


def normalize_scopes(scopes: Iterable[str]) -> list[str]:
    """The given scopes sorted and without repeats; ValueError names any that is malformed."""
    unique = set(scopes)
    if malformed := sorted(scope for scope in unique if not SCOPE.fullmatch(scope)):
        raise ValueError(
            f"Not a valid scope: {', '.join(repr(scope) for scope in malformed)}. Use {SCOPE_RULE}."
        )
    return sorted(unique)


def parse_scopes(text: str) -> list[str]:
    """Scopes from text separated by spaces or commas, such as "orders:read, orders:write"."""
    return normalize_scopes(scope for scope in SEPARATORS.split(text) if scope)
