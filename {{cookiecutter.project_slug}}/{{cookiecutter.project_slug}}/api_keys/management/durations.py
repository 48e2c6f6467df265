"""Times and durations as operators type them on the command line: 90d, 12h, 30m, or a date.

Functions here are argparse `type=` callables: a bad value raises ArgumentTypeError, whose
message the command shows as it is. A minus sign is read, so that "-5d" is refused with a reason.
"""

import argparse
import re
from datetime import datetime, timedelta

from django.utils import timezone

DURATION = re.compile(r"(-?\d+)([dhm])")
DURATION_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
DURATION_EXAMPLES = "90d, 12h, 30m"
# Far enough for any key; it keeps `now + duration` inside what a datetime can hold.
LONGEST_DURATION = timedelta(days=36_525)
FUTURE_EXPIRY = "a key must expire later than now (e.g. 90d, or a date to come)"


def parse_duration(value: str) -> timedelta:
    """A length of time written as a whole number of days, hours or minutes: 90d, 12h, 30m."""
    match = DURATION.fullmatch(value)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a duration: use a number and d, h or m ({DURATION_EXAMPLES})"
        )
    try:
        duration = timedelta(**{DURATION_UNITS[match[2]]: int(match[1])})
    except (OverflowError, ValueError):
        duration = None
    if duration is None or abs(duration) > LONGEST_DURATION:
        raise argparse.ArgumentTypeError(f"{value!r} is longer than 100 years")
    return duration


def parse_grace(value: str) -> timedelta:
    """A grace period: a duration of zero (0m: none) or more."""
    duration = parse_duration(value)
    if duration < timedelta(0):
        raise argparse.ArgumentTypeError(f"{value!r} is negative: use 0m for no grace period")
    return duration


def parse_expiry(value: str) -> datetime:
    """A time in the future, from a duration (90d, 12h, 30m), a date or an ISO 8601 date and
    time. Now or earlier is refused: the key would be born expired."""
    if DURATION.fullmatch(value):
        duration = parse_duration(value)
        if duration <= timedelta(0):
            raise argparse.ArgumentTypeError(f"{value!r} is not in the future: {FUTURE_EXPIRY}")
        return timezone.now() + duration
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a duration ({DURATION_EXAMPLES}), a date (2030-01-31) "
            "or a date and time (2030-01-31T12:00:00+00:00)"
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment <= timezone.now():
        raise argparse.ArgumentTypeError(f"{value!r} is not in the future: {FUTURE_EXPIRY}")
    return moment
