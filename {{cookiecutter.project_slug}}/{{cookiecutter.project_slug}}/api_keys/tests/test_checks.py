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
        ({"KEYWORD": "Api Key"}, "api_keys.E004"),
        ({"HEADER": "X-Api-Key"}, "api_keys.E005"),
    ],
)
def test_bad_entries_are_reported(api_keys, expected):
    with override_settings(API_KEYS=api_keys):
        assert expected in error_ids()


@override_settings(API_KEY_CUSTOM_HEADER="X-Api-Key")
def test_bad_legacy_header_setting_is_reported():
    assert error_ids() == ["api_keys.E005"]
