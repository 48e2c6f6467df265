"""Quotas: requests per key per calendar period in UTC, and the RateLimit headers every counted
answer carries."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from .. import rates
from ..checks import check_api_keys_settings
from ..models import APIKey

pytestmark = pytest.mark.django_db
WHOAMI = "/api/v1/whoami/"
# Thursday 2027-12-30 23:59:00 UTC: a minute before a day, two days before a month and a year.
START = datetime(2027, 12, 30, 23, 59, tzinfo=UTC).timestamp()


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    now = {"now": START}
    monkeypatch.setattr(rates, "clock", lambda: now["now"])
    return now


def keyed(api_client, **fields):
    _, key = APIKey.objects.create_key(name="partner", **fields)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client


def statuses(client, count):
    return [client.get(WHOAMI).status_code for _ in range(count)]


def test_past_its_quota_a_key_gets_429_quota_exceeded_until_the_day_ends(api_client, clock):
    client = keyed(api_client, quota="3/day")
    assert statuses(client, 3) == [200, 200, 200]
    response = client.get(WHOAMI)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"  # the day ends at midnight UTC
    assert response.json()["error"] == {
        "code": "quota_exceeded",
        "message": "This API key has used its quota of 3 requests; it renews at 2027-12-31 "
        "00:00 UTC. Expected available in 60 seconds.",
    }
    clock["now"] += 60
    assert statuses(client, 4) == [200, 200, 200, 429]


def test_a_monthly_quota_renews_on_the_first_of_the_month(api_client, clock):
    client = keyed(api_client, quota="2/month")
    assert statuses(client, 3) == [200, 200, 429]
    clock["now"] += 86400  # 2027-12-31: the same month
    response = client.get(WHOAMI)
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    clock["now"] += 60  # 2028-01-01 00:00
    assert statuses(client, 1) == [200]


def test_the_project_default_applies_to_keys_without_their_own(api_client, api_keys_options):
    api_keys_options(QUOTA="1/hour")
    client = keyed(api_client)
    assert statuses(client, 2) == [200, 429]
    own = keyed(api_client, quota="2/hour")
    assert statuses(own, 3) == [200, 200, 429]


def test_requests_refused_by_the_rate_do_not_use_up_the_quota(api_client, clock, api_keys_options):
    api_keys_options(THROTTLE_RATE="2/min")
    clock["now"] -= 120  # 23:57
    client = keyed(api_client, quota="3/day")
    assert statuses(client, 4) == [200, 200, 429, 429]
    clock["now"] += 60  # the next minute, the same day
    assert statuses(client, 2) == [200, 429]  # the quota's third request, then its end
    assert client.get(WHOAMI).json()["error"]["code"] == "quota_exceeded"


def test_every_counted_answer_carries_the_tighter_limit_s_ratelimit_headers(
    api_client, api_keys_options
):
    api_keys_options(THROTTLE_RATE="100/min")
    client = keyed(api_client, quota="3/day")
    response = client.get(WHOAMI)
    assert response["RateLimit-Policy"] == '"quota";q=3;w=86400'
    assert response["RateLimit"] == '"quota";r=2;t=60'
    statuses(client, 2)
    refused = client.get(WHOAMI)
    assert refused.status_code == 429
    assert refused["RateLimit"] == '"quota";r=0;t=60'


def test_without_a_quota_the_headers_describe_the_rate(api_client, clock):
    clock["now"] -= 29  # 31 seconds into the minute
    client = keyed(api_client, throttle_rate="5/min")
    response = client.get(WHOAMI)
    assert response["RateLimit-Policy"] == '"throttle";q=5;w=60'
    assert response["RateLimit"] == '"throttle";r=4;t=29'


def test_with_no_limit_there_are_no_headers(api_client, api_keys_options):
    api_keys_options(THROTTLE_RATE=None)
    response = keyed(api_client).get(WHOAMI)
    assert response.status_code == 200
    assert "RateLimit" not in response
    assert "RateLimit-Policy" not in response


def test_an_unkeyed_answer_has_no_headers(api_client):
    response = api_client.get(WHOAMI)
    assert response.status_code == 401
    assert "RateLimit" not in response


@pytest.mark.parametrize("quota", ["3/fortnight", "3 per day", "-1/day", "3/d", "lots"])
def test_a_quota_that_cannot_be_read_is_refused_with_its_form(quota):
    with pytest.raises(ValidationError) as refused:
        APIKey.objects.create_key(name="partner", quota=quota)
    examples = "'10000/month', '500/day' or '50/hour' (period: hour, day, week or month)"
    assert refused.value.messages == [
        f"{quota!r} is not a quota. Write requests/period, e.g. {examples}."
    ]


def test_createapikey_sets_a_quota_and_refuses_a_bad_one():
    stdout, stderr = StringIO(), StringIO()
    call_command(
        "createapikey", "--name", "plan", "--quota", "10000/month", stdout=stdout, stderr=stderr
    )
    assert APIKey.objects.get().quota == "10000/month"
    assert ", quota 10000/month," in stderr.getvalue()
    with pytest.raises(CommandError, match=r"'10/fortnight' is not a quota: write e\.g\. "):
        call_command("createapikey", "--name", "plan", "--quota", "10/fortnight")


def test_a_bad_default_quota_stops_the_checks(settings):
    settings.API_KEYS = {**settings.API_KEYS, "QUOTA": "10000/year"}
    [error] = check_api_keys_settings()
    assert error.msg == "API_KEYS['QUOTA'] is '10000/year'."
    assert "hour, day, week or month" in error.hint


@pytest.mark.parametrize(
    ("period", "starts", "ends"),
    [
        ("hour", "2027-12-30T23:00:00+00:00", "2027-12-31T00:00:00+00:00"),
        ("day", "2027-12-30T00:00:00+00:00", "2027-12-31T00:00:00+00:00"),
        ("week", "2027-12-27T00:00:00+00:00", "2028-01-03T00:00:00+00:00"),  # Monday to Monday
        ("month", "2027-12-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00"),
    ],
)
def test_quota_periods_are_calendar_periods_in_utc(period, starts, ends):
    start, end = rates.period_bounds(period, START)  # Thursday 2027-12-30 23:59 UTC
    as_text = [datetime.fromtimestamp(moment, UTC).isoformat() for moment in (start, end)]
    assert as_text == [starts, ends]


def test_a_quota_saved_past_validation_is_not_counted_and_not_an_error(api_client, caplog):
    client = keyed(api_client)
    APIKey.objects.update(quota="1/fortnight")
    assert statuses(client, 2) == [200, 200]
    assert "has a quota that cannot be read" in caplog.text
