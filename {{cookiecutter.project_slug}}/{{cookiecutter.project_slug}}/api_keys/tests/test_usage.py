"""Usage per key per hour: counted in the cache with no write on a request's path, moved to
the table in batches, exact when read, and what a crash can lose."""

import json
import time
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from .. import rates, usage
from ..models import APIKey, KeyUsage

pytestmark = pytest.mark.django_db
WHOAMI = "/api/v1/whoami/"
KEYS = "/api/v1/keys/"
# 30 minutes and 30 seconds into an hour: a test moves the clock on purpose only.
START = 1_800_001_830.0
HOUR = datetime.fromtimestamp(START // 3600 * 3600, UTC)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    """The counters' time, fixed at START; move it with `clock["now"] += seconds`."""
    now = {"now": START}
    monkeypatch.setattr(rates, "clock", lambda: now["now"])
    monkeypatch.setattr(usage, "_next_move", 0.0)
    return now


def client_for(api_client, key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client


def stored(api_key):
    """(hour, accepted, refused) rows of the table for a key."""
    rows = KeyUsage.objects.filter(lookup_id=api_key.lookup_id).order_by("hour")
    return [(row.hour.astimezone(UTC), row.accepted, row.refused) for row in rows]


def day_of(api_key):
    return usage.usage_of(api_key, HOUR - timedelta(hours=2), HOUR + timedelta(hours=2), "hour")


def counts_at(report, hour=HOUR):
    [count] = [count for count in report if count["start"] == hour]
    return count["accepted"], count["refused"]


@pytest.mark.django_db(transaction=True)  # requests commit, as served
def test_requests_are_counted_per_hour_with_no_database_write_on_their_path(api_client, api_key):
    api_key_object, key = api_key
    client = client_for(api_client, key)
    client.get(WHOAMI)  # the first request of a process moves (nothing) and records first use
    with CaptureQueriesContext(connection) as queries:
        statuses = [client.get(WHOAMI).status_code for _ in range(5)]
    assert statuses == [200] * 5
    writes = [q["sql"] for q in queries if not q["sql"].lstrip().upper().startswith("SELECT")]
    assert writes == []  # one SELECT per request: the key; the counts are in the cache
    assert stored(api_key_object) == [(HOUR, 1, 0)]  # the first request's, moved by itself
    assert counts_at(day_of(api_key_object)) == (6, 0)  # the table's 1 and the cache's 5
    assert usage.move_tallies() == 5
    assert stored(api_key_object) == [(HOUR, 6, 0)]


def test_refusals_tied_to_a_key_are_counted_apart(api_client, api_keys_options):
    api_keys_options(THROTTLE_RATE="2/min")
    api_key, key = APIKey.objects.create_key(name="partner", scopes=["orders:read"])
    client = client_for(api_client, key)
    assert [client.get(WHOAMI).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get(KEYS).status_code == 403  # lacks keys:read
    assert counts_at(day_of(api_key)) == (2, 2)


def test_refusals_of_pinned_and_expired_keys_are_counted_and_unknown_keys_are_not(api_client):
    pinned, pinned_key = APIKey.objects.create_key(name="pinned", allowed_ips=["192.0.2.0/24"])
    expired, expired_key = APIKey.objects.create_key(
        name="expired", expiry_date=timezone.now() - timedelta(seconds=1)
    )
    assert client_for(api_client, pinned_key).get(WHOAMI).status_code == 403
    assert client_for(api_client, expired_key).get(WHOAMI).status_code == 401
    expired.delete()
    assert client_for(api_client, expired_key).get(WHOAMI).status_code == 401  # no such key
    assert counts_at(day_of(pinned)) == (0, 1)
    assert counts_at(day_of(expired)) == (0, 1)
    assert usage.move_tallies() == 2  # the unknown key's refusal counted nowhere


@pytest.mark.django_db(transaction=True)  # requests commit, as served
def test_counts_are_moved_by_the_first_request_after_the_interval(
    api_client, api_key, clock, api_keys_options
):
    api_keys_options(USAGE_FLUSH_INTERVAL=60)
    api_key_object, key = api_key
    client = client_for(api_client, key)
    for _ in range(3):
        client.get(WHOAMI)
    assert stored(api_key_object) == [(HOUR, 1, 0)]  # the process's first request moved its own
    clock["now"] += 59
    client.get(WHOAMI)
    assert stored(api_key_object) == [(HOUR, 1, 0)]
    clock["now"] += 1
    client.get(WHOAMI)
    assert stored(api_key_object) == [(HOUR, 5, 0)]


@pytest.mark.django_db(transaction=True)  # requests commit, as served
def test_counts_are_moved_when_an_hour_closes_each_in_its_hour(
    api_client, api_key, clock, api_keys_options
):
    api_keys_options(USAGE_FLUSH_INTERVAL=3600)
    api_key_object, key = api_key
    client = client_for(api_client, key)
    client.get(WHOAMI)
    client.get(WHOAMI)
    clock["now"] = (START // 3600 + 1) * 3600  # the next hour's first second
    client.get(WHOAMI)
    assert stored(api_key_object) == [(HOUR, 2, 0), (HOUR + timedelta(hours=1), 1, 0)]


def test_a_database_failure_puts_the_counts_back(api_client, api_key, monkeypatch):
    api_key_object, key = api_key
    client = client_for(api_client, key)
    for _ in range(3):
        client.get(WHOAMI)

    def failing(rows):
        raise DatabaseError("the disk is full")

    with monkeypatch.context() as patched:
        patched.setattr(usage, "_add_to_table", failing)
        assert usage.move_tallies() == 0
    assert counts_at(day_of(api_key_object)) == (3, 0)


class Crash(BaseException):
    """The process dies: no handler runs."""


@pytest.mark.django_db(transaction=True)  # requests commit, as served
def test_a_crash_while_moving_loses_that_batch_and_nothing_else(api_client, api_key, monkeypatch):
    api_key_object, key = api_key
    client = client_for(api_client, key)
    for _ in range(4):
        client.get(WHOAMI)
    assert usage.move_tallies() == 3  # the first request moved its own: 1 + 3 saved
    for _ in range(2):
        client.get(WHOAMI)  # the batch that will be lost

    def crashing(rows):
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(usage, "_add_to_table", crashing)
        with pytest.raises(Crash):
            usage.move_tallies()
    for _ in range(5):
        client.get(WHOAMI)  # after the crash
    # Lost: the 2 requests of the batch in flight. Kept: the 4 before it and the 5 after.
    assert counts_at(day_of(api_key_object)) == (9, 0)


@pytest.mark.django_db(transaction=True)
def test_a_move_inside_a_transaction_that_rolls_back_leaves_the_tallies(api_key):
    api_key_object, _ = api_key
    rates.count_hits([], usage.tally(api_key_object, usage.ACCEPTED))

    def failing_request():
        with transaction.atomic():
            usage.move_if_due()  # as a request under ATOMIC_REQUESTS: the move awaits the commit
            raise RuntimeError("the view failed")

    with pytest.raises(RuntimeError, match="the view failed"):
        failing_request()
    assert stored(api_key_object) == []
    assert usage.move_tallies() == 1
    assert stored(api_key_object) == [(HOUR, 1, 0)]


def test_a_report_covers_each_hour_or_day_with_zeros(api_key):
    api_key_object, _ = api_key
    KeyUsage.objects.create(
        key_model="api_keys.apikey", lookup_id=api_key_object.lookup_id, hour=HOUR, accepted=7
    )
    KeyUsage.objects.create(
        key_model="api_keys.apikey",
        lookup_id=api_key_object.lookup_id,
        hour=HOUR + timedelta(hours=1),
        accepted=1,
        refused=2,
    )
    day = HOUR.replace(hour=0)
    report = usage.usage_of(api_key_object, day - timedelta(days=1), day + timedelta(days=2))
    assert [(c["start"], c["accepted"], c["refused"]) for c in report] == [
        (day - timedelta(days=1), 0, 0),
        (day, 8, 2),
        (day + timedelta(days=1), 0, 0),
    ]


def test_the_cache_holds_the_tallies_of_a_thousand_keys():
    names = [f"{int(START // 3600)}|api_keys.apikey|key{number:04d}|a" for number in range(1000)]
    for name in names:
        rates.count_hits([], name)
    assert rates.take_tallies() == dict.fromkeys(names, 1)


def test_usage_outlives_its_key(api_client, api_key):
    api_key_object, key = api_key
    client_for(api_client, key).get(WHOAMI)
    usage.move_tallies()
    api_key_object.delete()
    assert KeyUsage.objects.filter(lookup_id=api_key_object.lookup_id).exists()


def test_usage_counting_can_be_turned_off(api_client, api_key, api_keys_options):
    api_keys_options(USAGE=False)
    api_key_object, key = api_key
    client = client_for(api_client, key)
    assert client.get(WHOAMI).status_code == 200
    assert counts_at(day_of(api_key_object)) == (0, 0)


def test_the_tallies_hold_lookup_ids_never_a_secret(api_client, api_key):
    api_key_object, key = api_key
    client_for(api_client, key).get(WHOAMI)
    client_for(api_client, key).get(WHOAMI)
    taken = rates.take_tallies()
    assert list(taken) == [f"{int(START // 3600)}|api_keys.apikey|{api_key_object.lookup_id}|a"]
    assert key.split("_")[2][:32] not in repr(taken)


# The API: GET /api/v1/keys/<lookup_id>/usage/


def usage_url(lookup_id):
    return reverse("v1:key-usage", args=[lookup_id])


def test_a_key_with_keys_read_gets_its_own_usage_by_day(api_client, clock, monkeypatch):
    monkeypatch.setattr(rates, "clock", time.time)  # the API's periods are real days
    api_key, key = APIKey.objects.create_key(name="reader", scopes=["keys:read"])
    client = client_for(api_client, key)
    for _ in range(3):
        client.get(WHOAMI)
    response = client.get(usage_url(api_key.lookup_id))
    assert response.status_code == 200
    body = response.json()
    assert body["lookup_id"] == api_key.lookup_id
    assert body["by"] == "day"
    assert len(body["counts"]) == 30
    assert body["totals"] == {"accepted": 4, "refused": 0}  # this request included
    today = datetime.now(UTC).strftime("%Y-%m-%dT00:00:00Z")
    assert body["counts"][-1] == {"start": today, "accepted": 4, "refused": 0}
    assert body["until"] == (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")


def test_usage_by_hour_for_a_chosen_period(api_client, monkeypatch):
    monkeypatch.setattr(rates, "clock", time.time)
    api_key, key = APIKey.objects.create_key(name="reader", scopes=["keys:read"])
    client = client_for(api_client, key)
    client.get(WHOAMI)
    response = client.get(
        usage_url(api_key.lookup_id), {"by": "hour", "since": "2026-11-01", "until": "2026-11-02"}
    )
    assert response.status_code == 200
    body = response.json()
    assert len(body["counts"]) == 24
    assert body["counts"][0]["start"] == "2026-11-01T00:00:00Z"
    assert body["since"] == "2026-11-01T00:00:00Z"


def test_another_key_s_usage_is_not_found(api_client):
    _, key = APIKey.objects.create_key(name="reader", scopes=["keys:read"])
    other, _ = APIKey.objects.create_key(name="other client")
    response = client_for(api_client, key).get(usage_url(other.lookup_id))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_usage_needs_keys_read(api_client):
    api_key, key = APIKey.objects.create_key(name="no scope")
    response = client_for(api_client, key).get(usage_url(api_key.lookup_id))
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "missing_scope"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"by": "week"}, "by", '"week" is not a valid choice.'),
        ({"since": "soon"}, "since", "'soon' is not a date or time: write e.g. 2026-11-01."),
        (
            {"since": "2026-11-02", "until": "2026-11-01"},
            "since",
            "`since` must come before `until`.",
        ),
        (
            {"by": "hour", "since": "2026-01-01", "until": "2026-03-01"},
            "since",
            "A report covers at most 31 days by hour.",
        ),
        (
            {"since": "2020-01-01", "until": "2026-01-01"},
            "since",
            "A report covers at most 366 days by day.",
        ),
        (
            {"until": "0001-01-01"},
            "since",
            "The period reaches past the dates this API can count (years 1 to 9999).",
        ),
        (
            {"since": "9999-12-31T23:00", "by": "hour"},
            "since",
            "`since` must come before `until`.",
        ),
    ],
)
def test_a_bad_period_gets_400_saying_what_is_wrong(api_client, query, field, message):
    api_key, key = APIKey.objects.create_key(name="reader", scopes=["keys:read"])
    response = client_for(api_client, key).get(usage_url(api_key.lookup_id), query)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {field: [message]}


# listapikeys --sort usage


def test_listapikeys_sorts_by_the_last_30_days_requests(monkeypatch):
    quiet, _ = APIKey.objects.create_key(name="quiet")
    busy, _ = APIKey.objects.create_key(name="busy")
    APIKey.objects.create_key(name="idle")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    for api_key, hours_ago, accepted in ((quiet, 1, 2), (busy, 2, 9), (busy, 40 * 24, 100)):
        KeyUsage.objects.create(
            key_model="api_keys.apikey",
            lookup_id=api_key.lookup_id,
            hour=now - timedelta(hours=hours_ago),
            accepted=accepted,
            refused=1,
        )
    stdout = StringIO()
    call_command("listapikeys", "--sort", "usage", "--json", stdout=stdout)
    rows = json.loads(stdout.getvalue())
    assert [(row["name"], row["requests_30d"]) for row in rows] == [
        ("busy", 10),
        ("quiet", 3),
        ("idle", 0),
    ]
    table = StringIO()
    call_command("listapikeys", "--sort", "usage", stdout=table)
    lines = table.getvalue().splitlines()
    assert lines[0].split()[-1] == "requests_30d"
    assert [line.split()[1] for line in lines[1:]] == ["busy", "quiet", "idle"]


def test_a_report_rounds_its_period_down_to_whole_steps(api_client, api_key):
    api_key_object, key = api_key
    client_for(api_client, key).get(WHOAMI)
    report = usage.usage_of(
        api_key_object, HOUR + timedelta(minutes=37), HOUR + timedelta(hours=1, minutes=5), "hour"
    )
    assert [(count["start"], count["accepted"]) for count in report] == [(HOUR, 1)]
