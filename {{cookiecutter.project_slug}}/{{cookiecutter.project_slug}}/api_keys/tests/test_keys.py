"""Key format, checksum and hashing: what scanners, clients and the database rely on."""

import hashlib
import math
import re

import pytest
from django.contrib.auth.hashers import make_password

from ..keys import ALPHABET, CHECKSUM_LENGTH, MAX_KEY_LENGTH, KeyGenerator, checksum
from ..settings import DEFAULTS

LOOKUP_ID_LENGTH = DEFAULTS["LOOKUP_ID_LENGTH"]
SECRET_LENGTH = DEFAULTS["SECRET_LENGTH"]

generator = KeyGenerator(brand="acme")


def test_key_has_brand_lookup_id_secret_and_checksum():
    key, lookup_id, hashed_key = generator.generate()
    match = re.fullmatch(r"acme_([0-9A-Za-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})", key)
    assert match, key
    assert match[1] == lookup_id
    assert match[3] == checksum(f"acme_{lookup_id}_{match[2]}")
    assert hashed_key == generator.hash(match[2])


def test_secret_carries_at_least_160_bits():
    assert SECRET_LENGTH * math.log2(len(ALPHABET)) >= 160


def test_keys_differ_every_time():
    keys = {generator.generate()[0] for _ in range(200)}
    assert len(keys) == 200


def test_hash_is_tagged_sha256_of_the_secret_only():
    key, _, hashed_key = generator.generate()
    algorithm, digest = hashed_key.split("$")
    assert algorithm == "sha256"
    assert len(digest) == 64
    assert key not in hashed_key


def test_parse_returns_lookup_id_and_secret():
    key, lookup_id, hashed_key = generator.generate()
    parsed = generator.parse(key)
    assert parsed.lookup_id == lookup_id
    assert generator.verify_secret(parsed.secret, hashed_key)
    assert generator.verify(key, hashed_key)


def test_a_changed_character_breaks_the_checksum():
    key, _, _ = generator.generate()
    position = len("acme_") + 3
    typo = key[:position] + ("a" if key[position] != "a" else "b") + key[position + 1 :]
    assert generator.parse(typo) is None


@pytest.mark.parametrize(
    "presented",
    [
        "",
        "acme",
        "acme_",
        "other_AAAAAAAAAAAA_" + "A" * (SECRET_LENGTH + CHECKSUM_LENGTH),
        "acme_AAAAAAAAAAAA_" + "A" * (SECRET_LENGTH + CHECKSUM_LENGTH),  # wrong checksum
        "acme_AAAA_AAAA",
        " acme_AAAAAAAAAAAA_" + "A" * (SECRET_LENGTH + CHECKSUM_LENGTH),
        "acme_ÀAAAAAAAAAAA_" + "A" * (SECRET_LENGTH + CHECKSUM_LENGTH),
        "x" * (MAX_KEY_LENGTH + 1),
        "abcdefgh.short",
    ],
)
def test_malformed_keys_are_refused_by_the_parser(presented):
    assert generator.parse(presented) is None


def test_valid_key_with_trailing_bytes_is_refused():
    key, _, _ = generator.generate()
    assert generator.parse(key + "x") is None
    assert generator.parse(key + "\x00") is None


def test_lengths_match_the_documented_format():
    key, lookup_id, _ = generator.generate()
    assert len(lookup_id) == LOOKUP_ID_LENGTH
    assert len(key) == len("acme_") + LOOKUP_ID_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH


def test_keys_of_djangorestframework_api_key_are_read_whole():
    legacy_key = "Abcd1234." + "x" * 32
    parsed = generator.parse(legacy_key)
    assert parsed.lookup_id == "Abcd1234"
    assert parsed.secret == legacy_key


def test_legacy_sha512_hashes_verify():
    legacy_key = "Abcd1234." + "x" * 32
    stored = "sha512$$" + hashlib.sha512(legacy_key.encode()).hexdigest()
    assert generator.verify(legacy_key, stored)
    assert not generator.verify("Abcd1234." + "y" * 32, stored)
    assert generator.needs_rehash(stored)


def test_legacy_password_hasher_hashes_verify():
    legacy_key = "Abcd1234." + "x" * 32
    stored = make_password(legacy_key)
    assert generator.verify(legacy_key, stored)
    assert not generator.verify("Abcd1234." + "y" * 32, stored)
    assert generator.needs_rehash(stored)
    assert not generator.needs_rehash(generator.hash("anything"))


def test_lengths_come_from_settings(settings):
    settings.API_KEYS = {"LOOKUP_ID_LENGTH": 8, "SECRET_LENGTH": 40}
    key, lookup_id, _ = generator.generate()
    assert len(lookup_id) == 8
    assert len(key) == len("acme_") + 8 + 1 + 40 + CHECKSUM_LENGTH
    assert generator.parse(key).lookup_id == lookup_id


def test_smallest_allowed_secret_still_has_160_bits():
    assert 27 * math.log2(len(ALPHABET)) >= 160


def test_brand_comes_from_settings(settings):
    settings.API_KEYS = {"BRAND": "billing"}
    key, _, _ = KeyGenerator().generate()
    assert key.startswith("billing_")
