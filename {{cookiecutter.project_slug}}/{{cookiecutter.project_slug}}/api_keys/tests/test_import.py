"""importapikeys: keys of djangorestframework-api-key move over and keep working."""

import hashlib
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.utils import timezone
from django.utils.crypto import get_random_string

from ..models import APIKey, KeyEvent

pytestmark = pytest.mark.django_db
LEGACY_TABLE = "rest_framework_api_key_apikey"
WHOAMI = "/api/v1/whoami/"


def sha512_hash(key):
    """How djangorestframework-api-key 3.x hashes a key."""
    return "sha512$$" + hashlib.sha512(key.encode()).hexdigest()


def create_legacy_table(table=LEGACY_TABLE, *, name_length=50, prefix_length=8, timestamp=None):
    """The table djangorestframework-api-key's migrations leave, column for column; another
    table may have longer name or prefix columns, or timestamps of another type."""
    quote = connection.ops.quote_name

    def varchar(max_length):
        return models.CharField(max_length=max_length).db_type(connection)

    timestamp = timestamp or models.DateTimeField().db_type(connection)
    columns = [
        f"{quote('id')} {varchar(150)} NOT NULL PRIMARY KEY",
        f"{quote('created')} {timestamp} NOT NULL",
        f"{quote('name')} {varchar(name_length)} NOT NULL",
        f"{quote('revoked')} {models.BooleanField().db_type(connection)} NOT NULL",
        f"{quote('expiry_date')} {timestamp} NULL",
        f"{quote('hashed_key')} {varchar(150)} NOT NULL",
        f"{quote('prefix')} {varchar(prefix_length)} NOT NULL UNIQUE",
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {quote(table)} ({', '.join(columns)})")


def insert_legacy_key(
    name,
    hash_key=sha512_hash,
    *,
    revoked=False,
    expiry_date=None,
    created=None,
    table=LEGACY_TABLE,
    prefix_length=8,
    secret_key_length=32,
):
    """A row as djangorestframework-api-key writes it, with its KeyGenerator's default lengths
    or the ones given; returns (prefix, full key)."""
    prefix, secret = get_random_string(prefix_length), get_random_string(secret_key_length)
    key = f"{prefix}.{secret}"
    hashed_key = hash_key(key)
    created = created or timezone.now() - timedelta(days=400)

    def to_db(value):  # a string is written as it is
        return value if isinstance(value, str) else connection.ops.adapt_datetimefield_value(value)

    quote = connection.ops.quote_name
    columns = ", ".join(
        quote(column)
        for column in ("id", "created", "name", "revoked", "expiry_date", "hashed_key", "prefix")
    )
    values = [
        f"{prefix}.{hashed_key}"[:150],
        to_db(created),
        name,
        revoked,
        to_db(expiry_date),
        hashed_key,
        prefix,
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(table)} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s)",  # noqa: S608
            values,
        )
    return prefix, key


def run(*args):
    stdout = StringIO()
    call_command("importapikeys", *args, stdout=stdout, stderr=StringIO())
    return stdout.getvalue()


def whoami(api_client, key):
    return api_client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {key}")


@pytest.fixture
def legacy_table():
    create_legacy_table()
    return LEGACY_TABLE


def test_imported_keys_authenticate_as_they_are(api_client, legacy_table):
    created = timezone.now() - timedelta(days=500)
    expiry = timezone.now() + timedelta(days=30)
    fast_prefix, fast_key = insert_legacy_key("billing", created=created, expiry_date=expiry)
    slow_prefix, slow_key = insert_legacy_key("reports", make_password)
    assert "Imported 2 API key(s)" in run()
    for key, prefix, name in (
        (fast_key, fast_prefix, "billing"),
        (slow_key, slow_prefix, "reports"),
    ):
        response = whoami(api_client, key)
        assert response.status_code == 200, response.content
        assert response.json()["lookup_id"] == prefix
        assert response.json()["name"] == name
    billing = APIKey.objects.get(lookup_id=fast_prefix)
    assert abs(billing.created - created) < timedelta(seconds=1)
    assert abs(billing.expiry_date - expiry) < timedelta(seconds=1)
    assert billing.hashed_key.startswith("sha256$")


def test_each_imported_key_leaves_an_event_naming_the_command_but_a_dry_run_none(legacy_table):
    prefix, _ = insert_legacy_key("billing", revoked=True)
    run("--dry-run")
    assert not KeyEvent.objects.exists()
    run()
    [event] = KeyEvent.objects.filter(lookup_id=prefix)
    assert (event.action, event.actor_kind, event.actor_name) == (
        "created",
        "command",
        "importapikeys",
    )
    assert event.changes == {"revoked": {"new": True}}


def test_a_password_hasher_hash_is_kept_then_replaced_on_first_use(api_client, legacy_table):
    prefix, key = insert_legacy_key("reports", make_password)
    run()
    imported = APIKey.objects.get(lookup_id=prefix)
    assert not imported.hashed_key.startswith("sha256$")
    assert whoami(api_client, key).status_code == 200
    imported.refresh_from_db()
    assert imported.hashed_key.startswith("sha256$")
    assert whoami(api_client, key).status_code == 200
    assert whoami(api_client, f"{prefix}.{'x' * 32}").status_code == 401


def test_keys_of_a_generator_with_other_lengths_authenticate(api_client):
    # djangorestframework-api-key's KeyGenerator(prefix_length=10, secret_key_length=40), on a
    # table whose prefix column was widened to hold them.
    create_legacy_table(prefix_length=10)
    prefix, key = insert_legacy_key("wide", prefix_length=10, secret_key_length=40)
    assert "Imported 1 API key(s)" in run()
    response = whoami(api_client, key)
    assert response.status_code == 200, response.content
    assert response.json()["lookup_id"] == prefix
    assert APIKey.objects.get(lookup_id=prefix).hashed_key.startswith("sha256$")
    assert whoami(api_client, f"{prefix}.{'x' * 40}").status_code == 401


def test_revoked_and_expired_keys_stay_refused(api_client, legacy_table):
    _, revoked_key = insert_legacy_key("old partner", revoked=True)
    past = timezone.now() - timedelta(days=1)
    _, expired_key = insert_legacy_key("trial", expiry_date=past)
    run()
    assert whoami(api_client, revoked_key).json()["error"]["code"] == "invalid_api_key"
    assert whoami(api_client, expired_key).json()["error"]["code"] == "expired_api_key"
    assert APIKey.objects.get(name="old partner").revoked


def test_running_it_again_imports_nothing_twice(legacy_table):
    insert_legacy_key("billing")
    insert_legacy_key("reports")
    run()
    output = run()
    assert "Imported 0 API key(s)" in output
    assert "skipped 2" in output
    assert APIKey.objects.count() == 2


def test_a_key_whose_lookup_id_exists_is_skipped_and_left_alone(legacy_table):
    prefix, _ = insert_legacy_key("legacy")
    insert_legacy_key("other")
    existing, _ = APIKey.objects.create_key(name="already here")
    APIKey.objects.filter(pk=existing.pk).update(lookup_id=prefix)
    output = run()
    assert "Imported 1 API key(s)" in output
    assert "skipped 1" in output
    assert APIKey.objects.get(lookup_id=prefix).name == "already here"


def test_dry_run_says_what_it_would_do_and_writes_nothing(legacy_table):
    insert_legacy_key("billing")
    insert_legacy_key("reports")
    output = run("--dry-run")
    assert "would import 2 API key(s)" in output
    assert "Nothing was written" in output
    assert not APIKey.objects.exists()


def test_another_table_is_read_with_table(api_client):
    create_legacy_table("partners_partnerapikey")
    _, key = insert_legacy_key("org key", table="partners_partnerapikey")
    assert "Imported 1 API key(s) from partners_partnerapikey" in run(
        "--table", "partners_partnerapikey"
    )
    assert whoami(api_client, key).status_code == 200


def test_a_missing_table_is_a_clear_error():
    with pytest.raises(CommandError, match="There is no table 'rest_framework_api_key_apikey'"):
        run()
    with pytest.raises(CommandError, match="--table NAME"):
        run("--table", "nope")


def test_a_table_of_another_shape_is_refused_by_column():
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE legacy_keys (id integer PRIMARY KEY, name varchar(50))")
    with pytest.raises(CommandError, match="lacks the column"):
        run("--table", "legacy_keys")
    assert not APIKey.objects.exists()


def test_a_value_too_long_for_a_column_stops_the_import_with_the_row_number():
    table = "partners_partnerapikey"
    create_legacy_table(table, name_length=200)
    long_ago = timezone.now() - timedelta(days=900)
    insert_legacy_key("first", created=long_ago, table=table)
    prefix, _ = insert_legacy_key("x" * 150, created=long_ago + timedelta(days=1), table=table)
    insert_legacy_key("third", table=table)
    expected = (
        f"Row 2 of {table} (prefix {prefix!r}) cannot be imported: name: Ensure this value has "
        "at most 100 characters (it has 150). Nothing was imported."
    )
    for dry_run in ([], ["--dry-run"]):
        with pytest.raises(CommandError) as raised:
            run("--table", table, *dry_run)
        assert str(raised.value) == expected
    assert not APIKey.objects.exists()


@pytest.mark.parametrize("column", ["created", "expiry_date"])
def test_a_date_that_cannot_be_read_stops_the_import_with_the_row_number(column):
    table = "partners_partnerapikey"
    create_legacy_table(table, timestamp=models.CharField(max_length=40).db_type(connection))
    insert_legacy_key("fine", created="2020-01-01 10:00:00", table=table)
    dates = {"created": "2024-01-01 10:00:00", "expiry_date": None}
    dates[column] = "2024-02-30 10:00:00"
    prefix, _ = insert_legacy_key(
        "bad date", created=dates["created"], expiry_date=dates["expiry_date"], table=table
    )
    with pytest.raises(CommandError) as raised:
        run("--table", table)
    assert str(raised.value) == (
        f"Row 2 of {table} (prefix {prefix!r}) cannot be imported: '2024-02-30 10:00:00' is not "
        "a date and time. Nothing was imported."
    )
    assert not APIKey.objects.exists()


@pytest.mark.parametrize("name", ["", "   "])
def test_a_row_without_a_name_stops_the_import_with_the_row_number(legacy_table, name):
    long_ago = timezone.now() - timedelta(days=900)
    insert_legacy_key("first", created=long_ago)
    prefix, _ = insert_legacy_key(name)
    with pytest.raises(CommandError) as raised:
        run()
    assert str(raised.value) == (
        f"Row 2 of {legacy_table} (prefix {prefix!r}) cannot be imported: An API key needs a "
        "name, saying who or what uses it. Nothing was imported."
    )
    assert not APIKey.objects.exists()


def test_a_name_with_control_characters_stops_the_import_with_the_row_number(legacy_table):
    insert_legacy_key("first", created=timezone.now() - timedelta(days=900))
    prefix, _ = insert_legacy_key("billing\x1b[2J\rRevoked.")
    with pytest.raises(CommandError) as raised:
        run()
    assert str(raised.value) == (
        f"Row 2 of {legacy_table} (prefix {prefix!r}) cannot be imported: name: Use printable "
        "text only: '\\x1b' is not a printable character. Nothing was imported."
    )
    assert not APIKey.objects.exists()


def test_imported_keys_can_be_given_a_quota_and_networks(api_client, legacy_table):
    prefix, key = insert_legacy_key("partner")
    assert "Imported 1 API key(s)" in run(
        "--quota", "1/day", "--allowed-ip", "203.0.113.0/24", "--allowed-ip", "2001:db8::/32"
    )
    imported = APIKey.objects.get(lookup_id=prefix)
    assert (imported.quota, imported.allowed_ips) == ("1/day", ["203.0.113.0/24", "2001:db8::/32"])
    answer = api_client.get(WHOAMI, HTTP_AUTHORIZATION=f"Api-Key {key}", REMOTE_ADDR="203.0.113.5")
    assert answer.status_code == 200
    elsewhere = whoami(api_client, key)  # from 127.0.0.1
    assert elsewhere.json()["error"]["code"] == "ip_not_allowed"


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--quota", "5/year"], "argument --quota: '5/year' is not a quota"),
        (["--allowed-ip", "10.0.0.1/8"], "argument --allowed-ip: '10.0.0.1/8' has host bits set"),
    ],
)
def test_a_bad_quota_or_network_stops_the_import_before_it_starts(legacy_table, option, message):
    insert_legacy_key("partner")
    with pytest.raises(CommandError, match=re.escape(message)):
        run(*option)
    assert not APIKey.objects.exists()
