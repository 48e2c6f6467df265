"""The post-generation hook: the first API key is printed once, works, and is stored nowhere."""

import json
import re
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from tests.baking import (
    BAKES_BY_ID,
    TEMPLATE_DIR,
    BakedProject,
    Bakery,
    clean_environment,
    format_output,
    read_requirements,
)
from tests.servers import free_port, get

FIRST_KEY_LINE = re.compile(r"^First API key: (\S+)$", re.MULTILINE)


def first_key(project: BakedProject) -> str:
    keys = FIRST_KEY_LINE.findall(project.stdout)
    assert len(keys) == 1, f"Expected one 'First API key: ' line in:\n{project.stdout}"
    return keys[0]


@pytest.fixture(scope="module")
def server(
    default_project: BakedProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The default project under `manage.py runserver`, with its .env; yields its base URL."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("runserver") / "runserver.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=default_project.path,
            env=default_project.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"runserver exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if get(f"{base_url}/healthz/")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"/healthz/ did not answer 200 within 30 s:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
    """Cookiecutter run by a Python that lacks one of the project's packages still generates
    the project, and the hook says how to install them and create the key."""
    # gunicorn only serves the finished app; nothing the hook runs imports it.
    distributions = [
        requirement.name
        for requirement in read_requirements(default_project.path / "requirements.txt")
        if canonicalize_name(requirement.name) != "gunicorn"
    ]
    problems = []
    for distribution in distributions:
        work = tmp_path / canonicalize_name(distribution)
        site = installed_packages_without(distribution, work / "site-packages")
        result = subprocess.run(
            [str(bare_python), "-m", "cookiecutter", "--no-input"]
            + ["--config-file", str(cookiecutter_config), "--output-dir", str(work / "out")]
            + [str(TEMPLATE_DIR)],
            env={**clean_environment(), "PYTHONPATH": str(site)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        expected = ("The first API key was not created: ", "pip install -r requirements")
        if result.returncode != 0 or not all(text in result.stdout for text in expected):
            problems.append(f"--- without {distribution}:\n{format_output(result)}")
    assert distributions
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)
