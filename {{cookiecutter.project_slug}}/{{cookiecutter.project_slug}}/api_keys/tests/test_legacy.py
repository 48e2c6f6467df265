"""Keys of djangorestframework-api-key: read whole, their hashes verified, then replaced."""

import hashlib

import pytest
from django.contrib.auth.hashers import check_password, make_password
from django.utils.crypto import get_random_string
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.test import APIClient

from .. import legacy, rates
from ..keys import ALPHABET, MAX_KEY_LENGTH, KeyGenerator
from ..legacy import LEGACY_KEY, LegacyKeyGenerator
from ..models import APIKey

generator = LegacyKeyGenerator(brand="acme")
LEGACY = "Abcd1234." + "x" * 32


def sha512_hash(key):
    """How djangorestframework-api-key 3.x hashes a key."""
    return "sha512$$" + hashlib.sha512(key.encode()).hexdigest()


def test_the_models_read_the_package_s_keys():
    assert isinstance(APIKey.objects.key_generator, LegacyKeyGenerator)


def test_keys_of_djangorestframework_api_key_are_read_whole():
    parsed = generator.parse(LEGACY)
    assert parsed.lookup_id == "Abcd1234"
    assert parsed.secret == LEGACY


def test_this_project_s_keys_are_still_read():
    key, lookup_id, hashed_key = generator.generate()
    assert generator.parse(key).lookup_id == lookup_id
    assert generator.verify(key, hashed_key)


@pytest.mark.parametrize(
    "presented",
    [
        "abcdefgh.",
        ".secret",
        "abcdefgh.sec-ret",
        "abcd.efgh.ijkl",
        "A" * 17 + ".secret",  # a lookup id longer than its column
        "abcdefgh." + "x" * MAX_KEY_LENGTH,
    ],
)
def test_malformed_legacy_keys_are_refused(presented):
    assert generator.parse(presented) is None


def test_sha512_hashes_verify_and_are_not_current():
    stored = sha512_hash(LEGACY)
    assert generator.verify(LEGACY, stored)
    assert not generator.verify("Abcd1234." + "y" * 32, stored)
    assert not generator.using_preferred_hasher(stored)


def test_password_hasher_hashes_verify_and_are_not_current():
    stored = make_password(LEGACY)
    assert generator.verify(LEGACY, stored)
    assert not generator.verify("Abcd1234." + "y" * 32, stored)
    assert not generator.using_preferred_hasher(stored)
    assert generator.using_preferred_hasher(generator.hash(LEGACY))


def test_a_legacy_key_hashes_whole_as_djangorestframework_api_key_did():
    legacy_key = f"{get_random_string(10)}.{get_random_string(40)}"
    assert generator.hash(legacy_key) == f"sha256${hashlib.sha256(legacy_key.encode()).hexdigest()}"
    assert generator.verify(legacy_key, generator.hash(legacy_key))


@pytest.mark.parametrize(("prefix_length", "secret_length"), [(1, 1), (8, 32), (10, 40), (16, 100)])
def test_legacy_keys_of_any_length_the_package_made_are_read(prefix_length, secret_length):
    # As djangorestframework-api-key's KeyGenerator(prefix_length, secret_key_length) makes them.
    prefix, secret = get_random_string(prefix_length), get_random_string(secret_length)
    legacy_key = f"{prefix}.{secret}"
    parsed = generator.parse(legacy_key)
    assert parsed.lookup_id == prefix
    assert parsed.secret == legacy_key
    assert generator.verify(legacy_key, sha512_hash(legacy_key))
    assert not generator.verify(f"{prefix}.{secret}x", sha512_hash(legacy_key))


@given(st.text(alphabet=ALPHABET + "."))
def test_the_parser_accepts_only_well_formed_keys(value):
    parsed = generator.parse(value)
    if parsed is not None and "." in value:
        assert LEGACY_KEY.fullmatch(value)
        assert parsed.secret == value


@pytest.mark.django_db
@pytest.mark.parametrize(
    "hash_legacy", [make_password, sha512_hash], ids=["password-hasher", "sha512"]
)
def test_an_imported_key_verifies_and_is_rehashed_with_sha256(hash_legacy):
    APIKey.objects.create(name="imported", lookup_id="Abcd1234", hashed_key=hash_legacy(LEGACY))
    assert APIKey.objects.is_valid(LEGACY)
    assert APIKey.objects.get(lookup_id="Abcd1234").hashed_key.startswith("sha256$")
    assert APIKey.objects.is_valid(LEGACY)


@pytest.fixture
def slow_imported_key(monkeypatch):
    """An imported key stored with a password hasher's hash, checks of it capped at 3 a minute
    (the clock stopped mid-minute); the hasher's runs are counted in `runs`."""
    monkeypatch.setattr(LegacyKeyGenerator, "slow_hash_rate", "3/min")
    monkeypatch.setattr(rates, "clock", lambda: 1_800_000_030.0)
    legacy_key = "Slow1234." + "s" * 32
    stored = make_password(legacy_key)
    APIKey.objects.create(name="imported", lookup_id="Slow1234", hashed_key=stored)
    runs = []

    def counting_hasher(secret, hashed_key):
        runs.append(secret)
        return check_password(secret, hashed_key)

    monkeypatch.setattr(legacy, "check_password", counting_hasher)
    return legacy_key, runs


FORGED = "Slow1234." + "f" * 32
WHOAMI = "/api/v1/whoami/"


@pytest.mark.django_db
def test_slow_hash_checks_are_capped_per_client(slow_imported_key):
    """Forged secrets for an imported key's known lookup id stop costing a hasher run once one
    client reaches the cap: that client gets 429 with Retry-After, not a 401."""
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    answers = [client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {FORGED}") for _ in range(5)]
    assert [answer.status_code for answer in answers] == [401, 401, 401, 429, 429]
    assert answers[-1]["Retry-After"] == "30"
    _, runs = slow_imported_key
    assert len(runs) == 3  # the fourth and fifth forgeries ran no hasher


@pytest.mark.django_db
def test_forged_secrets_from_elsewhere_do_not_lock_the_real_client_out(slow_imported_key):
    legacy_key, runs = slow_imported_key
    attacker = APIClient(REMOTE_ADDR="203.0.113.9")
    for _ in range(10):
        attacker.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {FORGED}")
    owner = APIClient(REMOTE_ADDR="198.51.100.7")
    answer = owner.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {legacy_key}")
    assert answer.status_code == 200
    assert APIKey.objects.get(lookup_id="Slow1234").hashed_key.startswith("sha256$")
    runs.clear()
    assert [APIKey.objects.is_valid(legacy_key) for _ in range(5)] == [True] * 5
    assert runs == []  # fast now: SHA-256, no hasher


@pytest.mark.django_db
def test_checks_with_no_client_share_one_cap(slow_imported_key):
    legacy_key, _ = slow_imported_key
    assert [APIKey.objects.is_valid(FORGED) for _ in range(3)] == [False] * 3
    assert not APIKey.objects.is_valid(legacy_key)  # the code path's cap is used up this minute


def test_a_default_generator_reads_no_legacy_key():
    assert KeyGenerator(brand="acme").parse(LEGACY) is None
