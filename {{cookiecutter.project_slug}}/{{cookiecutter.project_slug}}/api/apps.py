import stat
from pathlib import Path
from typing import Any

from django.apps import AppConfig
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created


def keep_sqlite_file_private(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    """Make a SQLite database file readable by its owner only, as .env is: it holds sessions and
    password hashes. A new file is still empty here; SQLite gives its journals the file's mode."""
    if connection.vendor != "sqlite":
        return
    path = Path(connection.settings_dict["NAME"])
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(mode & 0o700)
    except OSError:  # a database in memory, or a file of another user's: left as it is
        return


class ApiConfig(AppConfig):
    name = "{{ cookiecutter.project_slug }}.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (register the deployment checks)

        connection_created.connect(keep_sqlite_file_private, dispatch_uid="private-sqlite-file")
