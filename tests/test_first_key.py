"""The post-generation hook: the first API key is printed once, works, and is stored nowhere."""

import json
import re
import secrets
import subprocess
import sys
import sysconfig
from importlib.metadata import packages_distributions
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cookiecutter.main import cookiecutter
from packaging.utils import canonicalize_name

from tests.baking import (
    BAKES_BY_ID,
    POSTGRES_URL,
    TEMPLATE_DIR,
    BakedProject,
    Bakery,
    assert_succeeded,
    clean_environment,
    format_output,
    is_listening,
    read_requirements,
    scrubbed_os_environ,
    unavailable,
)
from tests.servers import get

FIRST_KEY_LINE = re.compile(r"^First API key: (\S+)$", re.MULTILINE)


def first_key(project: BakedProject) -> str:
    keys = FIRST_KEY_LINE.findall(project.stdout)
    assert len(keys) == 1, f"Expected one 'First API key: ' line in:\n{project.stdout}"
    return keys[0]


def test_hook_prints_the_first_key_once_with_a_curl_line(default_project: BakedProject) -> None:
    key = first_key(default_project)
    assert key.startswith(f"{default_project.context['__key_brand']}_")
    assert f'curl -H "Authorization: Api-Key {key}"' in default_project.stdout
    assert default_project.stdout.count(key) == 2  # the key line and the curl line


def test_first_key_is_accepted_over_http(default_project: BakedProject, server: str) -> None:
    status, _, body = get(
        f"{server}/api/v1/whoami/", {"Authorization": f"Api-Key {first_key(default_project)}"}
    )
    assert status == 200, body
    assert json.loads(body)["name"] == default_project.context["first_key_name"]


def test_request_without_key_gets_401_with_challenge(server: str) -> None:
    status, headers, body = get(f"{server}/api/v1/whoami/")
    assert status == 401, body
    assert (headers["WWW-Authenticate"] or "").startswith("Api-Key"), headers.items()


def test_plaintext_key_is_stored_nowhere(default_project: BakedProject) -> None:
    key = first_key(default_project)
    secret = key.split("_")[-1][:32]  # <brand>_<lookup id>_<secret><checksum>
    needles = (key.encode(), secret.encode())
    found = [
        path.relative_to(default_project.path)
        for path in default_project.path.rglob("*")
        if path.is_file() and any(needle in path.read_bytes() for needle in needles)
    ]
    assert (default_project.path / "db.sqlite3").is_file()
    assert not found, f"The plaintext key or its secret is in: {found}"


@pytest.mark.parametrize("bake_id", ["postgresql-locmem", "postgresql-redis"])
def test_unreachable_database_gets_instructions_not_a_failure(bakery: Bakery, bake_id: str) -> None:
    """The .env points at a local database that does not exist: the hook says what to run."""
    project = bakery.get(BAKES_BY_ID[bake_id])
    assert project.exit_code == 0, project.stderr
    assert "\nThe first API key was not created: " in f"\n{project.stdout}", project.stdout
    assert f"createdb {project.slug}" in project.stdout
    assert "python manage.py migrate" in project.stdout
    assert "python manage.py createapikey --name " in project.stdout
    assert not FIRST_KEY_LINE.search(project.stdout)


def libpq_variables(url: str) -> dict[str, str]:
    """PGHOST, PGPORT, PGUSER and PGPASSWORD for the server and role of a postgres:// URL."""
    parts = urlsplit(url)
    variables = {"PGHOST": parts.hostname or "127.0.0.1", "PGPORT": str(parts.port or 5432)}
    if parts.username:
        variables["PGUSER"] = parts.username
    if parts.password:
        variables["PGPASSWORD"] = parts.password
    return variables


def test_postgresql_database_is_created_where_the_server_allows_it(
    cookiecutter_config: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Where libpq's variables name a role that may create databases, the hook runs createdb,
    migrates, and prints a first key that is in the new database."""
    if not is_listening(POSTGRES_URL):
        unavailable(f"No PostgreSQL server answers at {POSTGRES_URL.rpartition('@')[2]}.")
    slug = f"hook_createdb_{secrets.token_hex(4)}"
    libpq = libpq_variables(POSTGRES_URL)
    try:
        with scrubbed_os_environ(), pytest.MonkeyPatch.context() as patch:
            for name, value in libpq.items():
                patch.setenv(name, value)
            project = Path(
                cookiecutter(
                    str(TEMPLATE_DIR),
                    no_input=True,
                    output_dir=str(tmp_path),
                    config_file=str(cookiecutter_config),
                    extra_context={"database": "postgresql", "project_slug": slug},
                )
            )
        output = capfd.readouterr().out
        keys = FIRST_KEY_LINE.findall(output)
        assert len(keys) == 1, output
        listed = subprocess.run(
            [sys.executable, "manage.py", "listapikeys", "--json"],
            cwd=project,
            env={**clean_environment(), **libpq},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=60,
            check=False,
        )
        assert_succeeded(listed)
        [row] = json.loads(listed.stdout)
        assert keys[0].split("_")[1] == row["lookup_id"]
    finally:
        import psycopg
        from psycopg import sql

        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(slug)))


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Python with no packages of its own; tests lend it some through PYTHONPATH."""
    folder = tmp_path_factory.mktemp("bare-venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder / "bin" / "python"


def installed_packages_without(distribution: str, folder: Path) -> Path:
    """A folder of links to everything installed here except one distribution's modules."""
    hidden = {
        module
        for module, owners in packages_distributions().items()
        if canonicalize_name(distribution) in map(canonicalize_name, owners)
    }
    folder.mkdir(parents=True)
    for site_packages in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}:
        for entry in Path(site_packages).iterdir():
            link = folder / entry.name
            if entry.name.split(".")[0] not in hidden and not link.exists():
                link.symlink_to(entry)
    return folder


def test_missing_package_gets_instructions_not_a_failure(
    default_project: BakedProject, bare_python: Path, cookiecutter_config: Path, tmp_path: Path
) -> None:
    """Cookiecutter run by a Python that lacks one of the project's packages, told not to set
    up .venv, still generates the project, and the hook says how to install them and create
    the key."""
    # Nothing the hook runs imports gunicorn, which only serves the finished app, sentry-sdk,
    # which only production settings load, argon2-cffi, which Django loads to hash a password,
    # tzdata, which Python reads only where the system has no time-zone database (this one
    # has), or cryptography, which only the leak endpoint imports, with the URLs.
    not_imported = ("gunicorn", "sentry-sdk", "argon2-cffi", "tzdata", "cryptography")
    distributions = [
        requirement.name
        for requirement in read_requirements(default_project.path / "requirements.txt")
        if canonicalize_name(requirement.name) not in not_imported
    ]
    problems = []
    for distribution in distributions:
        work = tmp_path / canonicalize_name(distribution)
        site = installed_packages_without(distribution, work / "site-packages")
        result = subprocess.run(
            [str(bare_python), "-m", "cookiecutter", "--no-input"]
            + ["--config-file", str(cookiecutter_config), "--output-dir", str(work / "out")]
            + [str(TEMPLATE_DIR), "set_up_environment=no"],
            env={**clean_environment(), "PYTHONPATH": str(site)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        expected = (
            "The first API key was not created: ",
            "pip install --require-hashes -r requirements-dev.lock",
        )
        if (
            result.returncode != 0
            or not all(text in result.stdout for text in expected)
            or (work / "out" / default_project.slug / ".venv").exists()
        ):
            problems.append(f"--- without {distribution}:\n{format_output(result)}")
    assert distributions
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
