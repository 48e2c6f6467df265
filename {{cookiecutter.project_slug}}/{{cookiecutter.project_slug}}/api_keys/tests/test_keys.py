"""Key format, checksum and hashing: what scanners, clients and the database rely on."""

import hashlib
import math
import re

import pytest

from ..keys import (
    ALPHABET,
    CHECKSUM_LENGTH,
    MAX_KEY_LENGTH,
    SECRET_LENGTHS,
    KeyGenerator,
    checksum,
)
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
    assert generator.using_preferred_hasher(hashed_key)


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
        "abcdefgh." + "x" * 32,  # djangorestframework-api-key's format
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


def test_lengths_come_from_settings(settings):
    settings.API_KEYS = {"LOOKUP_ID_LENGTH": 8, "SECRET_LENGTH": 40}
    key, lookup_id, _ = generator.generate()
    assert len(lookup_id) == 8
    assert len(key) == len("acme_") + 8 + 1 + 40 + CHECKSUM_LENGTH
    assert generator.parse(key).lookup_id == lookup_id


def test_smallest_allowed_secret_still_has_160_bits():
    assert SECRET_LENGTHS[0] * math.log2(len(ALPHABET)) >= 160


def test_the_longest_key_allowed_is_read():
    longest_brand = "a" * 20  # the longest the settings check allows
    made_by = KeyGenerator(16, SECRET_LENGTHS[-1], brand=longest_brand)
    key, lookup_id, _ = made_by.generate()
    assert len(key) <= MAX_KEY_LENGTH
    assert made_by.parse(key).lookup_id == lookup_id


@pytest.mark.parametrize(
    "made_by",
    [
        KeyGenerator(8, 40, brand="acme"),
        KeyGenerator(prefix_length=8, secret_key_length=40, brand="acme"),
    ],
)
def test_lengths_are_given_as_djangorestframework_api_key_takes_them(made_by):
    key, lookup_id, hashed_key = made_by.generate()
    assert (made_by.prefix_length, made_by.secret_key_length) == (8, 40)
    assert len(lookup_id) == 8
    assert len(key) == len("acme_") + 8 + 1 + 40 + CHECKSUM_LENGTH
    assert made_by.parse(key).lookup_id == lookup_id
    assert made_by.verify(key, hashed_key)
    assert generator.parse(key) is None  # the settings' lengths: 12 and 32


def test_lengths_given_to_the_generator_win_over_settings(settings):
    settings.API_KEYS = {"LOOKUP_ID_LENGTH": 10, "SECRET_LENGTH": 30}
    assert (KeyGenerator(16).prefix_length, KeyGenerator(16).secret_key_length) == (16, 30)
    assert (KeyGenerator().prefix_length, KeyGenerator().secret_key_length) == (10, 30)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prefix_length": 7}, "prefix_length must be a whole number from 8 to 16 "),
        ({"prefix_length": 17}, "prefix_length must be a whole number from 8 to 16 "),
        ({"prefix_length": "12"}, "prefix_length must be a whole number from 8 to 16 "),
        ({"prefix_length": True}, "prefix_length must be a whole number from 8 to 16 "),
        ({"secret_key_length": 26}, "secret_key_length must be a whole number from 27 to 64 "),
        ({"secret_key_length": 65}, "secret_key_length must be a whole number from 27 to 64 "),
        ({"secret_key_length": 32.0}, "secret_key_length must be a whole number from 27 to 64 "),
    ],
)
def test_lengths_out_of_range_are_refused_with_a_sentence(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)) as raised:
        KeyGenerator(**arguments)
    assert str(raised.value).endswith(f"not {next(iter(arguments.values()))!r}.")


def test_a_whole_key_hashes_to_what_verify_accepts():
    key, _, hashed_key = generator.generate()
    secret = generator.parse(key).secret
    assert generator.hash(key) == hashed_key == generator.hash(secret)
    assert generator.verify(key, generator.hash(key))
    assert not generator.verify(key, generator.hash(generator.generate()[0]))


def test_a_bare_secret_is_hashed_as_it_is():
    assert generator.hash("s3cret") == f"sha256${hashlib.sha256(b's3cret').hexdigest()}"


def test_brand_comes_from_settings(settings):
    settings.API_KEYS = {"BRAND": "billing"}
    key, _, _ = KeyGenerator().generate()
    assert key.startswith("billing_")
