"""last_used_at: written at most once per interval, by one conditional UPDATE."""

from datetime import timedelta
from unittest import mock

import pytest
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
    api_key[0].refresh_from_db()
    first = api_key[0].last_used_at
    with mock.patch("django.utils.timezone.now", return_value=first + timedelta(minutes=2)):
        keyed_client.get(WHOAMI)
    api_key[0].refresh_from_db()
    assert api_key[0].last_used_at == first + timedelta(minutes=2)


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
