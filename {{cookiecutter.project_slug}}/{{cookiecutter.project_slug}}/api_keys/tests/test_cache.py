"""Verdicts remembered until the database changes (SQLite): a repeat check costs no query, and
any change, by any connection and through any path, is seen by the next check.

These tests run outside a transaction (as requests do), where verdicts are remembered.
"""

import sqlite3
import threading

import pytest
from django.db import connection, transaction

from .. import cache
from ..models import APIKey

pytestmark = pytest.mark.django_db(transaction=True)
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
        table = APIKey._meta.db_table  # a name from the model, not input
        other.execute(f"UPDATE {table} SET revoked = 1 WHERE id = ?", [api_key.pk])  # noqa: S608
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
