"""last_used_at: written at most once per interval, by one conditional UPDATE."""

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from ..models import APIKey

pytestmark = pytest.mark.django_db
WHOAMI = "/api/v1/whoami/"


def test_first_use_is_recorded(keyed_client, api_key):
    assert api_key[0].last_used_at is None
    keyed_client.get(WHOAMI)
    api_key[0].refresh_from_db()
    assert api_key[0].last_used_at is not None


def test_repeated_use_within_the_interval_writes_nothing(keyed_client, django_assert_num_queries):
    keyed_client.get(WHOAMI)
    with django_assert_num_queries(5) as queries:  # one read of the key per request
        for _ in range(5):
            assert keyed_client.get(WHOAMI).status_code == 200
    assert all(query["sql"].startswith("SELECT") for query in queries.captured_queries)


def test_use_after_the_interval_is_recorded_again(keyed_client, api_key):
    keyed_client.get(WHOAMI)
    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    APIKey.objects.filter(pk=api_key[0].pk).update(last_used_at=two_minutes_ago)
    keyed_client.get(WHOAMI)
    api_key[0].refresh_from_db()
    assert api_key[0].last_used_at > two_minutes_ago + timedelta(minutes=1)


@pytest.mark.parametrize("age", [timedelta(seconds=59), timedelta(seconds=61)])
def test_the_interval_is_measured_from_the_stored_time(api_key, age, django_assert_num_queries):
    api_key[0].last_used_at = timezone.now() - age
    with django_assert_num_queries(0 if age < timedelta(seconds=60) else 1):
        APIKey.objects.record_use(api_key[0])


@override_settings(USE_TZ=False)
def test_naive_times_without_time_zones_are_compared_too(api_key, django_assert_num_queries):
    api_key[0].last_used_at = timezone.now() - timedelta(seconds=10)
    with django_assert_num_queries(0):
        APIKey.objects.record_use(api_key[0])
    api_key[0].last_used_at = timezone.now() - timedelta(minutes=5)
    with django_assert_num_queries(1):
        APIKey.objects.record_use(api_key[0])


def test_the_write_is_one_conditional_update(api_key, django_assert_num_queries):
    with django_assert_num_queries(1) as queries:
        APIKey.objects.record_use(api_key[0])
    sql = queries.captured_queries[0]["sql"]
    assert sql.startswith("UPDATE")
    assert "last_used_at" in sql.split("WHERE", 1)[1]


def test_a_fresher_value_written_elsewhere_is_not_overwritten(api_key):
    # Another process recorded a use a moment ago; this process's copy is older.
    recent = timezone.now()
    APIKey.objects.filter(pk=api_key[0].pk).update(last_used_at=recent)
    api_key[0].last_used_at = recent - timedelta(hours=1)
    APIKey.objects.record_use(api_key[0])
    assert APIKey.objects.get(pk=api_key[0].pk).last_used_at == recent


def test_interval_zero_records_every_use(keyed_client, api_key, api_keys_options):
    api_keys_options(LAST_USED_INTERVAL=0)
    keyed_client.get(WHOAMI)
    api_key[0].refresh_from_db()
    first = api_key[0].last_used_at
    keyed_client.get(WHOAMI)
    api_key[0].refresh_from_db()
    assert api_key[0].last_used_at > first
