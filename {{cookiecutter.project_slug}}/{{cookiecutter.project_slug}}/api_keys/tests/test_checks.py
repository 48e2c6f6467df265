"""A bad API_KEYS entry is reported at startup, naming the entry."""

import pytest
from django.test import override_settings

from ..checks import check_api_keys_settings


def error_ids():
    return [error.id for error in check_api_keys_settings()]


def test_default_settings_pass():
    assert error_ids() == []


@pytest.mark.parametrize(
    ("api_keys", "expected"),
    [
        ("not a dict", "api_keys.E001"),
        ({"BRNAD": "x"}, "api_keys.E002"),
        ({"BRAND": "My_API"}, "api_keys.E003"),
        ({"BRAND": ""}, "api_keys.E003"),
        ({"KEYWORD": "Api Key"}, "api_keys.E003"),
        ({"HEADER": "X-Api-Key"}, "api_keys.E003"),
        ({"LOOKUP_ID_LENGTH": 4}, "api_keys.E003"),
        ({"SECRET_LENGTH": 20}, "api_keys.E003"),
        ({"SECRET_LENGTH": "32"}, "api_keys.E003"),
        ({"REFUSAL_RATE": "10 per minute"}, "api_keys.E003"),
        ({"THROTTLE_RATE": "lots"}, "api_keys.E003"),
        ({"LAST_USED_INTERVAL": None}, "api_keys.E003"),
        ({"MAX_ROTATION_GRACE": -1}, "api_keys.E003"),
        ({"MAX_ROTATION_GRACE": 86400.5}, "api_keys.E003"),
        ({"MAX_ROTATION_GRACE": 400 * 86400}, "api_keys.E003"),
        ({"MAX_CHILDREN": -1}, "api_keys.E003"),
        ({"MAX_CHILDREN": None}, "api_keys.E003"),
    ],
)
def test_bad_entries_are_reported(api_keys, expected):
    with override_settings(API_KEYS=api_keys):
        errors = check_api_keys_settings()
    assert [error.id for error in errors] == [expected]
    if expected == "api_keys.E003":
        assert repr(next(iter(api_keys))) in errors[0].msg


@override_settings(API_KEY_CUSTOM_HEADER="X-Api-Key")
def test_bad_legacy_header_setting_is_reported():
    assert error_ids() == ["api_keys.E003"]


@override_settings(API_KEYS={"THROTTLE_RATE": None, "LAST_USED_INTERVAL": 0})
def test_features_can_be_turned_off():
    assert error_ids() == []


@override_settings(API_KEYS={"HEADER": "HTTP_X_API_KEY"}, API_KEY_CUSTOM_HEADER="HTTP_X_KEY")
def test_two_different_headers_are_reported():
    assert error_ids() == ["api_keys.E004"]


@override_settings(API_KEYS={"HEADER": "HTTP_X_API_KEY"}, API_KEY_CUSTOM_HEADER="HTTP_X_API_KEY")
def test_the_same_header_under_both_names_is_fine():
    assert error_ids() == []
