"""The verification cache: repeats cost no query, and changes to a key are never missed."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from ..cache import verification_cache
from ..models import APIKey

pytestmark = pytest.mark.django_db
WHOAMI = "/api/v1/whoami/"


@pytest.fixture
def key():
    return APIKey.objects.create_key(name="cached")[1]


def test_a_verified_key_is_verified_again_without_a_query(key, django_assert_num_queries):
    with django_assert_num_queries(1):
        assert APIKey.objects.is_valid(key)
    with django_assert_num_queries(0):
        assert APIKey.objects.is_valid(key)


def test_the_cache_keeps_no_plaintext_key(key):
    APIKey.objects.is_valid(key)
    assert len(verification_cache) == 1
    assert key not in repr(verification_cache._entries)
    secret = key.split("_")[2][:32]
    assert secret not in repr(verification_cache._entries)


def test_a_wrong_key_is_not_cached(key, django_assert_num_queries):
    wrong = key[:-7] + ("a" if key[-7] != "a" else "b") + key[-6:]
    assert not APIKey.objects.is_valid(wrong)
    assert len(verification_cache) == 0


def test_ttl_zero_turns_it_off(key, api_keys_options, django_assert_num_queries):
    api_keys_options(VERIFICATION_CACHE_TTL=0)
    APIKey.objects.is_valid(key)
    with django_assert_num_queries(1):
        assert APIKey.objects.is_valid(key)


def test_entries_end_after_the_ttl(key, django_assert_num_queries):
    APIKey.objects.is_valid(key)
    later = mock.patch("time.monotonic", return_value=10**9)
    with later, django_assert_num_queries(1):
        assert APIKey.objects.is_valid(key)


def test_revoking_takes_effect_at_once_in_this_process(keyed_client, api_key):
    assert keyed_client.get(WHOAMI).status_code == 200
    api_key[0].revoke()
    assert keyed_client.get(WHOAMI).status_code == 401


def test_a_change_made_by_another_process_is_seen_through_the_shared_cache(key):
    api_key = APIKey.objects.get_from_key(key)
    # Another process revokes the key: its database row and its stamp in the shared cache
    # change, this process's memory does not.
    APIKey.objects.filter(pk=api_key.pk).update(revoked=True)
    cache.set(f"api_keys:stamp:api_keys.apikey:{api_key.lookup_id}", "changed elsewhere")
    assert not APIKey.objects.is_valid(key)


def test_a_revocation_saved_while_the_key_is_queried_is_not_missed(key):
    api_key = APIKey.objects.get()
    verify_secret = APIKey.objects.key_generator.verify_secret

    def revoked_meanwhile(*args):
        # Another process revokes the key after this one read its row, before it remembers it.
        APIKey.objects.get(pk=api_key.pk).revoke()
        return verify_secret(*args)

    with mock.patch.object(APIKey.objects.key_generator, "verify_secret", revoked_meanwhile):
        assert APIKey.objects.is_valid(key)  # the request already under way
    assert not APIKey.objects.is_valid(key)


def test_a_rotation_is_not_missed_by_a_query_made_before_it_commits(
    key, django_capture_on_commit_callbacks
):
    parsed = APIKey.objects.key_generator.parse(key)
    api_key = APIKey.objects.get()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        api_key.rotate(grace=timedelta(0))
        # Meanwhile another process queries the key: it reads the row as last committed (not
        # expiring) and remembers it under the stamp that rotate() has just written.
        as_committed = APIKey.objects.get(pk=api_key.pk)
        as_committed.expiry_date = None
        stamp = verification_cache.stamp(APIKey, parsed)
        verification_cache.put(APIKey, parsed, as_committed, stamp)
    assert not APIKey.objects.is_valid(key)


def test_expiry_is_checked_on_every_hit(key):
    api_key = APIKey.objects.get_from_key(key)
    api_key.expiry_date = timezone.now() + timedelta(seconds=1)
    APIKey.objects.filter(pk=api_key.pk).update(expiry_date=api_key.expiry_date)
    assert APIKey.objects.is_valid(key)
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() + timedelta(hours=1)):
        assert not APIKey.objects.is_valid(key)


def test_deleting_a_key_forgets_it(key):
    api_key = APIKey.objects.get_from_key(key)
    api_key.delete()
    assert not APIKey.objects.is_valid(key)


def test_the_cache_is_bounded(api_keys_options):
    api_keys_options(VERIFICATION_CACHE_SIZE=3)
    keys = [APIKey.objects.create_key(name=f"k{n}")[1] for n in range(5)]
    for key in keys:
        APIKey.objects.is_valid(key)
    assert len(verification_cache) == 3
