"""The verification cache: repeats cost no query, and changes to a key are never missed."""

from datetime import timedelta
from unittest import mock

import pytest
from django.core.cache import cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.utils import timezone

from .. import cache as cache_module
from ..cache import verification_cache
from ..keys import checksum
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


def test_a_verified_key_is_not_even_parsed_again(key):
    assert APIKey.objects.is_valid(key)
    with mock.patch.object(APIKey.objects.key_generator, "parse", side_effect=AssertionError):
        assert APIKey.objects.is_valid(key)


def test_the_cache_keeps_no_plaintext_key(key):
    APIKey.objects.is_valid(key)
    assert len(verification_cache) == 1
    assert key not in repr(verification_cache._entries)
    secret = key.split("_")[2][:32]
    assert secret not in repr(verification_cache._entries)


def unknown_key(like: str) -> str:
    """A well-formed key with a valid checksum whose lookup id matches no row."""
    generator = APIKey.objects.key_generator
    while True:
        candidate = generator.generate()[0]
        if candidate.split("_")[1] != like.split("_")[1]:
            return candidate


def wrong_secret(key: str) -> str:
    """`key` with one character of its secret changed and a checksum made to match."""
    generator = APIKey.objects.key_generator
    brand, lookup_id, rest = key.split("_")
    secret = rest[:-6]
    body = f"{brand}_{lookup_id}_{secret[:-1]}{'a' if secret[-1] != 'a' else 'b'}"
    wrong = body + checksum(body)
    assert generator.parse(wrong) is not None
    return wrong


def test_a_wrong_key_is_never_remembered_as_accepted(key):
    assert not APIKey.objects.is_valid(wrong_secret(key))
    assert not APIKey.objects.is_valid(wrong_secret(key))
    assert len(verification_cache) == 0


@pytest.mark.parametrize("refused", ["unknown", "wrong secret", "revoked"])
def test_a_refused_key_is_refused_again_without_a_query(key, refused, django_assert_num_queries):
    if refused == "revoked":
        APIKey.objects.get().revoke()
        presented = key
    else:
        presented = unknown_key(key) if refused == "unknown" else wrong_secret(key)
    with django_assert_num_queries(1):
        assert not APIKey.objects.is_valid(presented)
    with django_assert_num_queries(0):
        assert not APIKey.objects.is_valid(presented)
    if refused != "revoked":
        assert APIKey.objects.is_valid(key)  # only the presented key is refused


def test_a_key_saved_here_ends_the_refusals_of_its_lookup_id(key, django_assert_num_queries):
    # A client presents its old key before that key is imported here.
    presented = unknown_key(key)
    parsed = APIKey.objects.key_generator.parse(presented)
    assert not APIKey.objects.is_valid(presented)
    APIKey.objects.create(
        name="imported",
        lookup_id=parsed.lookup_id,
        hashed_key=APIKey.objects.key_generator.hash(parsed.secret),
    )
    with django_assert_num_queries(1):
        assert APIKey.objects.is_valid(presented)


def test_refusals_cannot_push_accepted_keys_out(key, api_keys_options):
    api_keys_options(VERIFICATION_CACHE_SIZE=2)
    assert APIKey.objects.is_valid(key)
    for _ in range(5):
        assert not APIKey.objects.is_valid(unknown_key(key))
    assert len(verification_cache) == 1
    assert len(verification_cache._refusals) == 2


def test_refusals_end_after_the_ttl(key, django_assert_num_queries):
    presented = unknown_key(key)
    assert not APIKey.objects.is_valid(presented)
    later = mock.patch("time.monotonic", return_value=10**9)
    with later, django_assert_num_queries(1):
        assert not APIKey.objects.is_valid(presented)


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


def test_stamps_are_written_only_where_other_processes_read_them(key):
    per_process = isinstance(caches["default"], LocMemCache)
    assert cache_module.stamps_are_shared() is not per_process
    APIKey.objects.get_from_key(key).revoke()
    stamp = cache.get(f"api_keys:stamp:api_keys.apikey:{key.split('_')[1]}")
    assert (stamp is None) is per_process


@pytest.fixture
def shared_stamps(monkeypatch):
    """Treat the local-memory cache as shared, the way Redis is, to fake another process."""
    monkeypatch.setattr(cache_module, "stamps_are_shared", lambda: True)


@pytest.mark.usefixtures("shared_stamps")
def test_a_change_made_by_another_process_is_seen_through_the_shared_cache(key):
    api_key = APIKey.objects.get_from_key(key)
    # Another process revokes the key: its database row and its stamp in the shared cache
    # change, this process's memory does not.
    APIKey.objects.filter(pk=api_key.pk).update(revoked=True)
    cache.set(f"api_keys:stamp:api_keys.apikey:{api_key.lookup_id}", "changed elsewhere")
    assert not APIKey.objects.is_valid(key)


@pytest.mark.usefixtures("shared_stamps")
def test_a_key_created_by_another_process_ends_refusals_through_the_shared_cache(key):
    presented = unknown_key(key)
    parsed = APIKey.objects.key_generator.parse(presented)
    assert not APIKey.objects.is_valid(presented)
    # Another process imports the key: a new row, and a stamp under its lookup id.
    APIKey.objects.bulk_create(
        [
            APIKey(
                name="imported elsewhere",
                lookup_id=parsed.lookup_id,
                hashed_key=APIKey.objects.key_generator.hash(parsed.secret),
            )
        ]
    )
    assert not APIKey.objects.is_valid(presented)  # nothing told this process yet
    cache.set(f"api_keys:stamp:api_keys.apikey:{parsed.lookup_id}", "changed elsewhere")
    assert APIKey.objects.is_valid(presented)


@pytest.mark.parametrize("stamps", ["per process", "shared"])
def test_a_revocation_saved_while_the_key_is_queried_is_not_missed(key, stamps, monkeypatch):
    monkeypatch.setattr(cache_module, "stamps_are_shared", lambda: stamps == "shared")
    api_key = APIKey.objects.get()
    verify_secret = APIKey.objects.key_generator.verify_secret

    def revoked_meanwhile(*args):
        # Another process revokes the key after this one read its row, before it remembers it.
        APIKey.objects.get(pk=api_key.pk).revoke()
        return verify_secret(*args)

    with mock.patch.object(APIKey.objects.key_generator, "verify_secret", revoked_meanwhile):
        assert APIKey.objects.is_valid(key)  # the request already under way
    assert not APIKey.objects.is_valid(key)


@pytest.mark.parametrize("stamps", ["per process", "shared"])
def test_a_rotation_is_not_missed_by_a_query_made_before_it_commits(
    key, stamps, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(cache_module, "stamps_are_shared", lambda: stamps == "shared")
    parsed = APIKey.objects.key_generator.parse(key)
    api_key = APIKey.objects.get()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        api_key.rotate(grace=timedelta(0))
        # Meanwhile another process queries the key: it reads the row as last committed (not
        # expiring) and remembers it under the stamp that rotate() has just written.
        as_committed = APIKey.objects.get(pk=api_key.pk)
        as_committed.expiry_date = None
        stamp = verification_cache.stamp(APIKey, parsed.lookup_id)
        verification_cache.put(APIKey, key, as_committed, stamp)
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
