"""What a scope may look like, how a list of them is stored (sorted, each once), and which of
a view's `required_scopes` a request needs.

The admin form and createapikey read scopes through these functions; views declare the scopes
they require, and the permission class compares them with the key's.
"""

import re
from collections.abc import Iterable, Mapping

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


def scopes_for_method(
    required: Iterable[str] | Mapping[str, Iterable[str]] | None, method: str
) -> list[str] | None:
    """The scopes a request with `method` needs, from a view's `required_scopes`: a list, for
    every method, or a dict by method, such as {"GET": ["orders:read"], "POST":
    ["orders:write"]} (HEAD and OPTIONS read GET's entry unless they have their own). None: the
    dict has no entry for `method`, so no key may use it."""
    if not required:
        return []
    if isinstance(required, str):  # one scope, written without its list
        return [required]
    if not isinstance(required, Mapping):
        return list(required)
    by_method = {name.upper(): scopes for name, scopes in required.items()}
    method = method.upper()
    if method not in by_method and method in ("HEAD", "OPTIONS"):
        method = "GET"
    scopes = by_method.get(method)
    return None if scopes is None else list(scopes)
