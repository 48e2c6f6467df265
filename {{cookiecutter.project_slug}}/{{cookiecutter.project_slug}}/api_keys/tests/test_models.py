"""The model and manager API that djangorestframework-api-key users rely on."""

import hashlib
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.utils import timezone

from ..keys import KeyGenerator
from ..models import APIKey

pytestmark = pytest.mark.django_db


def test_create_key_returns_object_and_key_and_stores_only_a_hash():
    api_key, key = APIKey.objects.create_key(name="billing")
    stored = APIKey.objects.get(pk=api_key.pk)
    assert stored.name == "billing"
    assert key.split("_")[1] == stored.lookup_id
    assert key not in stored.hashed_key
    assert stored.hashed_key.startswith("sha256$")


def test_create_key_ignores_a_given_id():
    api_key, _ = APIKey.objects.create_key(id=12345, name="billing")
    assert api_key.pk != 12345


NO_NAME = {"name": ["An API key needs a name, saying who or what uses it."]}


@pytest.mark.parametrize("name", ["", "   ", None])
def test_a_key_without_a_name_is_refused(name):
    with pytest.raises(ValidationError) as raised:
        APIKey.objects.create_key(name=name)
    assert raised.value.message_dict == NO_NAME
    with pytest.raises(ValidationError) as raised:
        APIKey(name=name, lookup_id="Abcd1234", hashed_key="sha256$0").save()
    assert raised.value.message_dict == NO_NAME
    assert not APIKey.objects.exists()


def test_create_key_needs_a_name():
    with pytest.raises(ValidationError) as raised:
        APIKey.objects.create_key()
    assert raised.value.message_dict == NO_NAME
    assert not APIKey.objects.exists()


def test_a_key_cannot_be_renamed_to_nothing():
    api_key, _ = APIKey.objects.create_key(name="billing")
    api_key.name = " "
    for update_fields in (None, ["name"]):
        with pytest.raises(ValidationError):
            api_key.save(update_fields=update_fields)
    assert APIKey.objects.get(pk=api_key.pk).name == "billing"


def test_a_stored_key_without_a_name_can_still_be_revoked():
    api_key, key = APIKey.objects.create_key(name="billing")
    APIKey.objects.filter(pk=api_key.pk).update(name="")  # as an older version allowed
    api_key.refresh_from_db()
    api_key.revoke()
    assert not APIKey.objects.is_valid(key)


def test_is_valid_and_get_from_key():
    api_key, key = APIKey.objects.create_key(name="billing")
    assert APIKey.objects.is_valid(key)
    assert APIKey.objects.get_from_key(key) == api_key
    assert api_key.is_valid(key)


def test_unknown_and_wrong_keys_are_not_valid():
    api_key, _ = APIKey.objects.create_key(name="billing")
    other, other_key = APIKey.objects.create_key(name="other")
    other.delete()
    assert not APIKey.objects.is_valid(other_key)
    assert not APIKey.objects.is_valid("garbage")
    assert not api_key.is_valid(other_key)
    with pytest.raises(APIKey.DoesNotExist):
        APIKey.objects.get_from_key(other_key)


def test_revoked_key_is_not_valid():
    api_key, key = APIKey.objects.create_key(name="billing")
    api_key.revoke()
    assert not APIKey.objects.is_valid(key)
    with pytest.raises(APIKey.DoesNotExist):
        APIKey.objects.get_from_key(key)


def test_revocation_cannot_be_undone():
    api_key, _ = APIKey.objects.create_key(name="billing")
    api_key.revoke()
    reloaded = APIKey.objects.get(pk=api_key.pk)
    reloaded.revoked = False
    with pytest.raises(ValidationError):
        reloaded.save()
    with pytest.raises(ValidationError):
        reloaded.clean()
    assert APIKey.objects.get(pk=api_key.pk).revoked


def test_a_copy_loaded_before_the_revocation_cannot_undo_it():
    api_key, key = APIKey.objects.create_key(name="billing")
    stale = APIKey.objects.get(pk=api_key.pk)
    api_key.revoke()
    stale.name = "renamed"
    with pytest.raises(ValidationError):
        stale.save()
    assert not APIKey.objects.is_valid(key)


def test_expired_key_is_not_valid_but_still_found():
    api_key, key = APIKey.objects.create_key(
        name="billing", expiry_date=timezone.now() - timedelta(seconds=1)
    )
    assert api_key.has_expired
    assert not APIKey.objects.is_valid(key)
    assert APIKey.objects.get_from_key(key) == api_key


def test_key_with_future_expiry_is_valid():
    api_key, key = APIKey.objects.create_key(
        name="billing", expiry_date=timezone.now() + timedelta(days=1)
    )
    assert not api_key.has_expired
    assert APIKey.objects.is_valid(key)


def test_get_usable_keys_can_be_narrowed_by_a_subclass():
    class NamedOnlyManager(type(APIKey.objects)):  # type: ignore[misc]
        def get_usable_keys(self):
            return super().get_usable_keys().filter(name="allowed")

    manager = NamedOnlyManager()
    manager.model = APIKey
    _, allowed = APIKey.objects.create_key(name="allowed")
    _, refused = APIKey.objects.create_key(name="refused")
    assert manager.is_valid(allowed)
    assert not manager.is_valid(refused)


@pytest.mark.parametrize(
    "hash_legacy",
    [
        lambda key: make_password(key),
        lambda key: "sha512$$" + hashlib.sha512(key.encode()).hexdigest(),
    ],
    ids=["password-hasher", "sha512"],
)
def test_imported_key_verifies_and_is_rehashed_with_sha256(hash_legacy):
    legacy_key = "Abcd1234." + "s" * 32
    APIKey.objects.create(name="imported", lookup_id="Abcd1234", hashed_key=hash_legacy(legacy_key))
    assert APIKey.objects.is_valid(legacy_key)
    stored = APIKey.objects.get(lookup_id="Abcd1234")
    assert stored.hashed_key.startswith("sha256$")
    assert APIKey.objects.is_valid(legacy_key)


def test_slow_hash_checks_are_capped_per_lookup_id(api_keys_options):
    """Forged secrets for an imported key's known lookup id stop costing a hasher run once the
    cap is reached; the real key then waits for the next period, and is rehashed once in."""
    api_keys_options(SLOW_HASH_RATE="3/min")
    legacy_key = "Slow1234." + "s" * 32
    APIKey.objects.create(
        name="imported", lookup_id="Slow1234", hashed_key=make_password(legacy_key)
    )
    forged = "Slow1234." + "f" * 32
    with mock.patch.object(KeyGenerator, "verify_secret", autospec=True, return_value=False) as spy:
        assert [APIKey.objects.is_valid(forged) for _ in range(5)] == [False] * 5
    assert spy.call_count == 3  # the fourth and fifth forgeries ran no hasher
    assert not APIKey.objects.is_valid(legacy_key)  # over the cap for this minute
    next_minute = time.time() + 60
    with mock.patch("time.time", return_value=next_minute):
        assert APIKey.objects.is_valid(legacy_key)
    assert APIKey.objects.get(lookup_id="Slow1234").hashed_key.startswith("sha256$")
    assert [APIKey.objects.is_valid(legacy_key) for _ in range(5)] == [True] * 5  # fast now


def test_one_query_to_verify_a_key(django_assert_num_queries):
    _, key = APIKey.objects.create_key(name="billing")
    with django_assert_num_queries(1):
        assert APIKey.objects.is_valid(key)


def test_check_key_tells_malformed_from_unknown():
    api_key, key = APIKey.objects.create_key(name="checked")
    assert APIKey.objects.check_key(key) == (True, api_key)
    assert APIKey.objects.check_key(APIKey.objects.key_generator.generate()[0]) == (True, None)
    assert APIKey.objects.check_key(key[:-1]) == (False, None)
    assert APIKey.objects.check_key("") == (False, None)


def test_a_parsed_key_shows_no_secret():
    key = APIKey.objects.key_generator.generate()[0]
    parsed = APIKey.objects.key_generator.parse(key)
    assert parsed.lookup_id in repr(parsed)
    assert parsed.secret not in repr(parsed)


def test_malformed_key_costs_no_query(django_assert_num_queries):
    _, key = APIKey.objects.create_key(name="billing")
    with django_assert_num_queries(0):
        assert not APIKey.objects.is_valid(key[:-1] + ("A" if key[-1] != "A" else "B"))
