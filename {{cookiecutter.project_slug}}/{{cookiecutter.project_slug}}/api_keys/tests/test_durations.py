"""Durations and times as commands read them (createapikey --expires, rotateapikey --grace)."""

import argparse
from datetime import timedelta

import pytest
from django.utils import timezone

from ..management.durations import parse_duration, parse_expiry, parse_grace


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("0h", timedelta(0)),
    ],
)
def test_durations_in_days_hours_and_minutes(value, expected):
    assert parse_duration(value) == expected


@pytest.mark.parametrize("value", ["", "24", "h", "1.5h", "--1h", "1w", " 1h", "1H", "+1h"])
def test_malformed_durations_are_refused_with_the_value_named(value):
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        parse_duration(value)


@pytest.mark.parametrize("value", ["36526d", "999999999999d", "9" * 5000 + "m"])
def test_durations_beyond_100_years_are_refused(value):
    with pytest.raises(argparse.ArgumentTypeError, match="longer than 100 years"):
        parse_duration(value)


def test_expiry_from_a_duration_is_that_long_from_now():
    expiry = parse_expiry("2d")
    assert abs(expiry - (timezone.now() + timedelta(days=2))) < timedelta(minutes=1)


def test_expiry_from_a_naive_date_is_made_aware():
    assert timezone.is_aware(parse_expiry("2999-01-31"))


def test_expiry_too_far_ahead_is_refused_not_crashed():
    with pytest.raises(argparse.ArgumentTypeError, match="longer than 100 years"):
        parse_expiry("99999999d")


def test_a_negative_duration_is_read_so_that_it_can_be_refused_with_a_reason():
    assert parse_duration("-5d") == timedelta(days=-5)


@pytest.mark.parametrize("value", ["-1m", "-5d"])
def test_a_negative_grace_period_is_refused(value):
    with pytest.raises(argparse.ArgumentTypeError, match="is negative: use 0m for no grace"):
        parse_grace(value)


def test_no_grace_at_all_is_a_grace_period():
    assert parse_grace("0m") == timedelta(0)


@pytest.mark.parametrize("value", ["0m", "-0d", "-5d", "2001-01-01", "2001-01-01T00:00:00+00:00"])
def test_an_expiry_that_is_not_in_the_future_is_refused(value):
    with pytest.raises(argparse.ArgumentTypeError, match="is not in the future"):
        parse_expiry(value)
