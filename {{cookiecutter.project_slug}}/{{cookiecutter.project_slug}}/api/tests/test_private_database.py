"""A SQLite database file is readable by its owner only, as .env is: it holds the admin's
sessions and password hashes (api/apps.py)."""

import os
import stat

import pytest
from django.db.utils import ConnectionHandler


@pytest.fixture
def sqlite_connection(tmp_path, django_db_blocker):
    """Open a connection to a SQLite file of `tmp_path` (created by the connection if missing),
    as the app opens its database; returns the file's path."""
    path = tmp_path / "db.sqlite3"
    handler = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": path}})

    def connect():
        with django_db_blocker.unblock():
            handler["default"].ensure_connection()
        handler.close_all()
        return path

    return connect


def mode(path):
    return oct(stat.S_IMODE(path.stat().st_mode))


def test_a_new_database_file_is_private(sqlite_connection):
    umask = os.umask(0o022)  # the usual one: new files readable by everyone
    try:
        path = sqlite_connection()
    finally:
        os.umask(umask)
    assert mode(path) == "0o600"


def test_a_database_file_others_can_read_is_made_private(sqlite_connection, tmp_path):
    (tmp_path / "db.sqlite3").touch()
    (tmp_path / "db.sqlite3").chmod(0o664)  # made before, or copied in from a backup
    assert mode(sqlite_connection()) == "0o600"


def test_a_private_database_file_is_left_as_it_is(sqlite_connection, tmp_path):
    (tmp_path / "db.sqlite3").touch()
    (tmp_path / "db.sqlite3").chmod(0o400)  # read-only for its owner: tighter, kept
    assert mode(sqlite_connection()) == "0o400"
