"""The SQLite setup: a transaction that reads and then writes (rotating a key) waits for other
writers instead of failing with "database is locked"."""

import threading
from unittest import mock

import pytest
from django.db import connections, transaction

pytestmark = pytest.mark.skipif(
    connections.settings["default"]["ENGINE"] != "django.db.backends.sqlite3",
    reason="DATABASE_URL names another database than SQLite",
)


@pytest.fixture
def database_file(tmp_path, django_db_blocker):
    """Aliases `first` and `second` for one SQLite file, with the project's options (the
    test database lives in memory, where locking differs)."""
    options = {**connections.settings["default"], "NAME": str(tmp_path / "db.sqlite3")}
    aliases = {"first": options, "second": dict(options)}
    with mock.patch.dict(connections.settings, aliases), django_db_blocker.unblock():
        try:
            yield
        finally:
            for alias in aliases:
                connections[alias].close()
                del connections[alias]


@pytest.mark.usefixtures("database_file")
def test_a_read_then_write_transaction_waits_for_a_concurrent_writer():
    with connections["first"].cursor() as cursor:
        cursor.execute("CREATE TABLE api_key (id INTEGER PRIMARY KEY, last_used INTEGER)")
        cursor.execute("INSERT INTO api_key VALUES (1, 0)")
    errors = []

    def record_use():  # what a request does while the key is being rotated
        try:
            with connections["second"].cursor() as cursor:
                cursor.execute("UPDATE api_key SET last_used = 1 WHERE id = 1")
        except Exception as error:  # noqa: BLE001  any error, for the test to show
            errors.append(error)
        finally:
            connections["second"].close()

    writer = threading.Thread(target=record_use)
    with transaction.atomic(using="first"), connections["first"].cursor() as cursor:
        cursor.execute("SELECT last_used FROM api_key WHERE id = 1")  # as rotate() reads the key
        writer.start()
        writer.join(timeout=0.5)  # the writer now waits for the lock (or is done)
        cursor.execute("INSERT INTO api_key VALUES (2, 0)")  # as rotate() adds the new key
    writer.join(timeout=10)
    assert not writer.is_alive()
    assert not errors
    with connections["first"].cursor() as cursor:
        cursor.execute("SELECT id, last_used FROM api_key ORDER BY id")
        assert cursor.fetchall() == [(1, 1), (2, 0)]
