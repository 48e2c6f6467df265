"""`python manage.py` as an operator runs it: a process of its own, on a database chosen by the
test (the suite's test database lives inside the pytest process, out of a command's reach)."""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]


def manage_py(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """Run `python manage.py <args>` with the test settings and `variables` in the environment."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **variables}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


def migrate_sqlite(path: Path) -> str:
    """DATABASE_URL of a new SQLite database at `path`, migrated."""
    url = sqlite_url(path)
    result = manage_py("migrate", "--noinput", DATABASE_URL=url)
    assert result.returncode == 0, result.stdout + result.stderr
    return url


def copy_database(source: Path, destination: Path) -> str:
    """DATABASE_URL of a copy of the SQLite database at `source`."""
    shutil.copyfile(source, destination)
    return sqlite_url(destination)


def assert_one_sentence(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """The command failed (non-zero exit) with one line on stderr, holding `expected`, and no
    traceback; returns that line."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def closed_port() -> int:
    """A port of 127.0.0.1 that nothing listens on: a server that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
