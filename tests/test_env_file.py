"""The hook's .env: a strong secret per project, readable by its owner only, never committed
(nor any other env file); the SQLite database as private; and every variable a developer sets
in .env reaches the development settings."""

import json
import os
import secrets
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.baking import BAKES, ENV_FILES, BakedProject, Bakery, clean_environment
from tests.servers import copy_project


def env_values(path: Path) -> dict[str, str]:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_env_file_is_private_and_holds_a_strong_secret_key(baked: BakedProject) -> None:
    env_file = baked.path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert len(env_values(env_file)["DJANGO_SECRET_KEY"]) >= 50


def ignored_by_git(gitignore: Path, paths: list[str], folder: Path) -> set[str]:
    """Which of `paths` git ignores with this .gitignore alone (no global or system excludes)."""
    subprocess.run(["git", "init", "--quiet", str(folder)], check=True)
    (folder / ".gitignore").write_bytes(gitignore.read_bytes())
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *paths],
        cwd=folder,
        env={**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr  # 1: none of them is ignored
    return set(result.stdout.splitlines())


def test_git_ignores_every_env_file_but_the_example(baked: BakedProject, tmp_path: Path) -> None:
    # .env.example holds placeholders only: it is committed.
    paths = [*ENV_FILES, ".env.example", "db.sqlite3", "manage.py"]
    ignored = ignored_by_git(baked.path / ".gitignore", paths, tmp_path / "repository")
    assert ignored == {*ENV_FILES, "db.sqlite3"}


SQLITE_BAKES = [bake for bake in BAKES if bake.database == "sqlite"]


@pytest.mark.parametrize("baked", SQLITE_BAKES, indirect=True, ids=lambda bake: bake.id)
def test_sqlite_database_is_private(baked: BakedProject) -> None:
    """Like .env, readable by its owner only: it holds the admin's sessions and password hashes."""
    database = baked.path / "db.sqlite3"
    assert database.stat().st_size > 0  # migrated by the hook
    assert oct(stat.S_IMODE(database.stat().st_mode)) == "0o600"


def test_every_bake_gets_its_own_secret_key(bakery: Bakery) -> None:
    projects = [bakery.get(bake) for bake in BAKES]
    assert all(project.exit_code == 0 for project in projects)
    keys = {env_values(project.path / ".env")["DJANGO_SECRET_KEY"] for project in projects}
    assert len(keys) == len(projects)


def test_baking_again_over_a_project_keeps_its_env_file(
    bake_into: Callable[..., Path], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = bake_into(tmp_path)
    env_file = project / ".env"
    before = env_file.read_bytes()

    assert bake_into(tmp_path, overwrite_if_exists=True) == project

    assert env_file.read_bytes() == before
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert f"Kept the existing {env_file}." in capfd.readouterr().out


# What a developer writes in .env, read back from the settings `python manage.py` uses.
SHOW_SETTINGS = """
import json
from django.conf import settings
database = settings.DATABASES["default"]
print(json.dumps({
    "database": [database["ENGINE"], database["NAME"], database["HOST"], database["PORT"]],
    "conn_max_age": database["CONN_MAX_AGE"],
    "cache": settings.CACHES["default"].get("LOCATION"),
    "log_level": settings.LOGGING["root"]["level"],
    "api_docs": settings.API_DOCS,
    "allowed_hosts": settings.ALLOWED_HOSTS,
}))
"""


def settings_seen(project: Path, settings_module: str | None = None, **variables: str) -> dict:
    """The SHOW_SETTINGS values of `manage.py shell`, in an environment without the project's
    variables (none of DJANGO_*, DATABASE_URL, REDIS_URL), plus `variables`."""
    environment = {**clean_environment(), **variables}
    if settings_module:
        environment["DJANGO_SETTINGS_MODULE"] = settings_module
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", SHOW_SETTINGS],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture
def project_with_env_file(baked: BakedProject, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of the bake whose .env sets every variable to a value no default has."""
    project = copy_project(baked, tmp_path)
    values = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "dev.example.test,127.0.0.1",
        "DJANGO_CONN_MAX_AGE": "7",
        "DJANGO_LOG_LEVEL": "WARNING",
        "DJANGO_API_DOCS": "false",
    }
    if baked.bake.database == "postgresql":
        values["DATABASE_URL"] = "postgres://dev:secret@db.example.test:6543/dev_db"
    else:
        values["DATABASE_URL"] = f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}"
    if baked.bake.cache == "redis":
        values["REDIS_URL"] = "redis://cache.example.test:6380/9"
    lines = [f"{name}={value}" for name, value in values.items()]
    (project / ".env").write_text("\n".join(lines) + "\n")
    return project, values


def test_local_settings_take_every_variable_from_the_env_file(
    project_with_env_file: tuple[Path, dict[str, str]],
) -> None:
    project, values = project_with_env_file
    seen = settings_seen(project)  # manage.py's default: config.settings.local

    if values["DATABASE_URL"].startswith("postgres"):
        expected_database = ["django.db.backends.postgresql", "dev_db", "db.example.test", 6543]
    else:
        path = values["DATABASE_URL"].removeprefix("sqlite:///")
        expected_database = ["django.db.backends.sqlite3", path, "", ""]
    assert seen["database"] == expected_database
    assert seen["conn_max_age"] == 7
    assert seen["log_level"] == "WARNING"
    assert seen["api_docs"] is False
    assert seen["allowed_hosts"] == ["dev.example.test", "127.0.0.1"]
    if "REDIS_URL" in values:
        assert seen["cache"] == values["REDIS_URL"]


def test_real_environment_variables_win_over_the_env_file(
    project_with_env_file: tuple[Path, dict[str, str]],
) -> None:
    project, _ = project_with_env_file
    seen = settings_seen(project, DJANGO_LOG_LEVEL="ERROR", DJANGO_CONN_MAX_AGE="0")
    assert (seen["log_level"], seen["conn_max_age"]) == ("ERROR", 0)


def test_test_settings_never_read_the_env_file(
    project_with_env_file: tuple[Path, dict[str, str]],
) -> None:
    project, values = project_with_env_file
    seen = settings_seen(project, "config.settings.test")
    if values["DATABASE_URL"].startswith("postgres"):
        assert seen["database"][1:] == [project.name, "127.0.0.1", 5432]  # base.py's default
    else:
        assert seen["database"][1] == str(project / "db.sqlite3")
    assert seen["conn_max_age"] == 60
    assert seen["log_level"] == "INFO"
    assert seen["allowed_hosts"] == ["testserver", "localhost", "127.0.0.1"]
    if "REDIS_URL" in values:
        assert seen["cache"] != values["REDIS_URL"]
