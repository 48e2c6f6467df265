"""Verdicts remembered until the database changes (SQLite): a repeat check costs no query, and
any change, by any connection and through any path, is seen by the next check.

These tests run outside a transaction (as requests do), where verdicts are remembered.
"""

import sqlite3
import threading
from unittest import mock

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from .. import cache
from ..models import APIKey

pytestmark = pytest.mark.django_db(transaction=True)
# A revocation as another program writes it (the table's name comes from the model, not input).
REVOKE = f"UPDATE {APIKey._meta.db_table} SET revoked = 1 WHERE id = ?"  # noqa: S608
sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="verdicts are remembered on SQLite only"
)


@pytest.fixture(autouse=True)
def _no_verdicts():
    cache.forget_all()


@sqlite_only
def test_a_repeat_check_costs_no_query(django_assert_num_queries):
    _, key = APIKey.objects.create_key(name="billing")
    assert APIKey.objects.is_valid(key)
    with django_assert_num_queries(0):
        assert APIKey.objects.is_valid(key)


@sqlite_only
def test_a_refusal_is_remembered_too(django_assert_num_queries):
    unknown = APIKey.objects.key_generator.generate()[0]
    assert not APIKey.objects.is_valid(unknown)
    with django_assert_num_queries(0):
        assert not APIKey.objects.is_valid(unknown)


def test_an_update_through_this_connection_is_seen_at_once():
    api_key, key = APIKey.objects.create_key(name="billing")
    assert APIKey.objects.is_valid(key)
    APIKey.objects.filter(pk=api_key.pk).update(revoked=True)
    assert not APIKey.objects.is_valid(key)


def test_a_delete_through_this_connection_is_seen_at_once():
    api_key, key = APIKey.objects.create_key(name="billing")
    assert APIKey.objects.is_valid(key)
    APIKey.objects.filter(pk=api_key.pk).delete()
    assert not APIKey.objects.is_valid(key)


def test_a_change_committed_by_another_connection_is_seen_at_once():
    api_key, key = APIKey.objects.create_key(name="billing")
    assert APIKey.objects.is_valid(key)

    def revoke_elsewhere() -> None:  # another thread: another connection
        APIKey.objects.filter(pk=api_key.pk).update(revoked=True)
        connection.close()

    thread = threading.Thread(target=revoke_elsewhere)
    thread.start()
    thread.join(timeout=30)
    assert not APIKey.objects.is_valid(key)


@sqlite_only
def test_raw_sql_from_another_program_is_seen_at_once():
    api_key, key = APIKey.objects.create_key(name="billing")
    assert APIKey.objects.is_valid(key)
    name = str(connection.settings_dict["NAME"])  # the test database: a file, or shared memory
    other = sqlite3.connect(name, uri=name.startswith("file:"), isolation_level=None)
    try:
        other.execute(REVOKE, [api_key.pk])
    finally:
        other.close()
    assert not APIKey.objects.is_valid(key)


def test_a_key_created_after_its_refusal_is_accepted():
    api_key, key = APIKey.objects.create_key(name="billing")
    hashed, lookup_id = api_key.hashed_key, api_key.lookup_id
    api_key.delete()
    assert not APIKey.objects.is_valid(key)  # refused, and remembered
    APIKey.objects.create(name="imported again", lookup_id=lookup_id, hashed_key=hashed)
    assert APIKey.objects.is_valid(key)


def test_inside_a_transaction_every_check_queries(django_assert_num_queries):
    _, key = APIKey.objects.create_key(name="billing")
    with transaction.atomic(), django_assert_num_queries(2):
        assert APIKey.objects.is_valid(key)
        assert APIKey.objects.is_valid(key)


# A database file, as served (the test database lives in memory, where only the pragma works).
FILE_ALIAS = "keys_file"


@pytest.fixture
def file_database(tmp_path, django_db_blocker):
    """The alias FILE_ALIAS for an SQLite file holding the key table; yields its path."""
    path = tmp_path / "db.sqlite3"
    options = {**connections.settings["default"], "NAME": str(path)}
    with mock.patch.dict(connections.settings, {FILE_ALIAS: options}), django_db_blocker.unblock():
        try:
            with connections[FILE_ALIAS].schema_editor() as editor:
                editor.create_model(APIKey)
            yield path
        finally:
            connections[FILE_ALIAS].close()
            del connections[FILE_ALIAS]


def change_from_another_program(path, *statements):
    other = sqlite3.connect(path, isolation_level=None)
    try:
        for statement, parameters in statements:
            other.execute(statement, parameters)
    finally:
        other.close()


@sqlite_only
def test_a_file_database_is_watched_through_its_header(file_database):
    keys = APIKey.objects.db_manager(FILE_ALIAS)
    _, key = keys.create_key(name="billing")
    assert keys.is_valid(key)

    stamp = cache.database_stamp(FILE_ALIAS)

    assert stamp is not None
    assert stamp[1] == file_database.read_bytes()[18:28]  # versions 1, 1 ... the change counter
    with CaptureQueriesContext(connections[FILE_ALIAS]) as queries:
        assert keys.is_valid(key)
    assert len(queries) == 0


@sqlite_only
def test_a_revocation_by_another_program_is_seen_at_once_through_the_header(file_database):
    keys = APIKey.objects.db_manager(FILE_ALIAS)
    api_key, key = keys.create_key(name="billing")
    assert keys.is_valid(key)
    assert keys.is_valid(key)  # remembered
    change_from_another_program(file_database, (REVOKE, [api_key.pk]))

    assert not keys.is_valid(key)


@sqlite_only
def test_in_wal_mode_the_pragma_watches_instead(file_database):
    keys = APIKey.objects.db_manager(FILE_ALIAS)
    api_key, key = keys.create_key(name="billing")
    assert keys.is_valid(key)
    # Another program turns WAL on (the header's versions become 2, 2), then revokes the key.
    change_from_another_program(file_database, ("PRAGMA journal_mode=wal", []))
    assert keys.is_valid(key)
    stamp = cache.database_stamp(FILE_ALIAS)
    assert stamp is not None
    assert isinstance(stamp[1], int)  # the pragma's data_version

    change_from_another_program(file_database, (REVOKE, [api_key.pk]))

    assert not keys.is_valid(key)


@sqlite_only
def test_a_database_in_memory_is_watched_through_the_pragma():
    stamp = cache.database_stamp("default")  # the test database, in shared memory

    assert stamp is not None
    assert isinstance(stamp[1], int)


@sqlite_only
def test_where_the_file_cannot_be_mapped_the_pragma_watches_instead(file_database):
    keys = APIKey.objects.db_manager(FILE_ALIAS)
    api_key, key = keys.create_key(name="billing")
    connections[FILE_ALIAS].close()  # the next check opens a connection, and looks at its file
    with mock.patch("mmap.mmap", side_effect=OSError("no mapping here")):
        assert keys.is_valid(key)
        stamp = cache.database_stamp(FILE_ALIAS)
        assert stamp is not None
        assert isinstance(stamp[1], int)  # the pragma's data_version
        keys.filter(pk=api_key.pk).update(revoked=True)
        assert not keys.is_valid(key)


@sqlite_only
def test_on_windows_the_pragma_watches_instead(file_database):
    keys = APIKey.objects.db_manager(FILE_ALIAS)
    api_key, key = keys.create_key(name="billing")
    connections[FILE_ALIAS].close()
    with mock.patch.object(cache, "MAPS_FILES", False):
        assert keys.is_valid(key)
        stamp = cache.database_stamp(FILE_ALIAS)
        assert stamp is not None
        assert isinstance(stamp[1], int)
        change_from_another_program(file_database, (REVOKE, [api_key.pk]))
        assert not keys.is_valid(key)
