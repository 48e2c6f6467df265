"""Scopes as people type them: checked, sorted and stored once each."""

import pytest

from ..scopes import normalize_scopes, parse_scopes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("  ,, ", []),
        ("orders:read", ["orders:read"]),
        ("orders:write orders:read", ["orders:read", "orders:write"]),
        ("b,a, c\td\n", ["a", "b", "c", "d"]),
        ("a a,a", ["a"]),
        ("reports.v2:export-all_x", ["reports.v2:export-all_x"]),
    ],
)
def test_scopes_are_split_on_spaces_and_commas_sorted_and_unique(text, expected):
    assert parse_scopes(text) == expected


@pytest.mark.parametrize("text", ["Orders:read", "orders/read", "orders;read", "écrire", "a*"])
def test_malformed_scopes_are_refused_by_name(text):
    with pytest.raises(ValueError, match="Not a valid scope") as error:
        parse_scopes(f"fine {text}")
    assert repr(text) in str(error.value)
    assert "'fine'" not in str(error.value)


def test_an_empty_scope_is_refused_when_given_on_its_own():
    with pytest.raises(ValueError, match="Not a valid scope: ''"):
        normalize_scopes(["orders:read", ""])
