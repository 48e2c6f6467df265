"""From a plain `pip install cookiecutter`: the README's "Use it" block works word for word, and
where the hook cannot make the project ready, it says why and leaves nothing half-made.

Each test runs cookiecutter from a throwaway venv that holds only cookiecutter, with pip (no
`uv` on PATH) and with uv (the uv wheel from PyPI installed into a folder of its own, put on
PATH, as `uvx cookiecutter` or an installed uv would have it). These are the only template
tests that install from the package index, with pip's and uv's usual caches; outside CI they
skip when PyPI cannot be reached.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.baking import (
    POSTGRES_URL,
    TEMPLATE_DIR,
    clean_environment,
    format_output,
    is_listening,
    unavailable,
)
from tests.servers import free_port
from tests.test_first_key import FIRST_KEY_LINE, libpq_variables

INSTALLERS = ["pip", "uv"]
PYPI = "https://pypi.org/simple/cookiecutter/"
# The README's stand-ins, and what the test puts in their place.
TEMPLATE_STAND_IN = "path/to/this/template"
KEY_STAND_IN = "<the first key>"
DOCUMENTED_ADDRESS = "http://127.0.0.1:8000"
SETUP_SECONDS = 600  # installs with a cold cache on a slow link, plus the generated suite
NOT_CREATED = "The first API key was not created: "


@dataclass(frozen=True)
class PlainCookiecutter:
    """A venv holding only cookiecutter, and how to run commands with it first on PATH, and
    `uv` next for the uv runs."""

    installer: str
    venv: Path
    config_file: Path
    uv_folder: Path | None = None

    def environment(self, **variables: str | None) -> dict[str, str]:
        """A clean environment with this venv's bin first on PATH, then the uv folder if any;
        no other folder on PATH holds a `uv` (the hook would use it). `variables` are set, or
        removed where None."""
        folders = os.environ.get("PATH", os.defpath).split(os.pathsep)
        folders = [folder for folder in folders if not (Path(folder) / "uv").exists()]
        ours = [self.venv / "bin", *([self.uv_folder] if self.uv_folder else [])]
        environment = {
            **clean_environment(),
            "PATH": os.pathsep.join([*map(str, ours), *folders]),
            "COOKIECUTTER_CONFIG": str(self.config_file),
            **variables,
        }
        if self.uv_folder:
            # uv's own cache, new for each run: a shared one once gave a Python 3.13 .venv a
            # package built for 3.11 after a 3.11 run at the same temporary paths.
            environment.setdefault("UV_CACHE_DIR", str(self.uv_folder.parent / "cache"))
        return {name: value for name, value in environment.items() if value is not None}

    def run(
        self, command: list[str], cwd: Path, timeout: float = SETUP_SECONDS, **variables: str | None
    ) -> subprocess.CompletedProcess[str]:
        """Run a command with this venv first on PATH; stderr is merged into stdout."""
        return subprocess.run(
            command,
            cwd=cwd,
            env=self.environment(**variables),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )

    def bake(
        self, output_dir: Path, *answers: str, **variables: str | None
    ) -> subprocess.CompletedProcess[str]:
        """`cookiecutter --no-input <template> [answers]` into output_dir."""
        command = ["cookiecutter", "--no-input", "--output-dir", str(output_dir)]
        return self.run([*command, str(TEMPLATE_DIR), *answers], output_dir, **variables)


def pip_install(python: Path, *arguments: str) -> None:
    """`python -m pip install --quiet <arguments>`; a failure shows pip's output."""
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", *arguments],
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=SETUP_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(format_output(result), pytrace=False)


@pytest.fixture(scope="module")
def cookiecutter_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with cookiecutter installed from PyPI, and nothing else."""
    try:
        with urllib.request.urlopen(PYPI, timeout=15) as response:
            response.read(1)
    except OSError as error:
        unavailable(f"PyPI is unreachable ({error}); these tests install from it.")
    venv = tmp_path_factory.mktemp("plain-cookiecutter") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    pip_install(venv / "bin" / "python", "cookiecutter")
    return venv


@pytest.fixture(scope="module")
def uv_folder(cookiecutter_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the `uv` program, from the uv wheel on PyPI (outside the venv)."""
    target = tmp_path_factory.mktemp("uv")
    pip_install(cookiecutter_venv / "bin" / "python", "--target", str(target), "uv")
    return target / "bin"


@pytest.fixture(params=INSTALLERS)
def plain_cookiecutter(
    request: pytest.FixtureRequest, cookiecutter_venv: Path, cookiecutter_config: Path
) -> PlainCookiecutter:
    """Cookiecutter from the plain venv, with `uv` on PATH for the uv runs, none for pip."""
    uv = request.getfixturevalue("uv_folder") if request.param == "uv" else None
    return PlainCookiecutter(request.param, cookiecutter_venv, cookiecutter_config, uv)


@pytest.fixture
def uv_cookiecutter(
    cookiecutter_venv: Path, cookiecutter_config: Path, uv_folder: Path
) -> PlainCookiecutter:
    """Cookiecutter from the plain venv, with `uv` on PATH."""
    return PlainCookiecutter("uv", cookiecutter_venv, cookiecutter_config, uv_folder)


def shell_block(readme: Path, heading: str) -> list[str]:
    """The lines of the first ```sh block in the `## <heading>` section of a README."""
    section = readme.read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    return section.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()


def without_comment(line: str) -> str:
    return line.split(" #", 1)[0].strip()


def replace_once(script: str, old: str, new: str) -> str:
    """`script` with `old` replaced; a failure if the README no longer has `old` exactly once."""
    assert script.count(old) == 1, f"The README's block should hold {old!r} once:\n{script}"
    return script.replace(old, new)


def use_it_script(work: Path, port: int) -> str:
    """The README's "Use it" block as a bash script, with these changes only: the template's
    path, --no-input and a log for the cookiecutter line; the key from that log for the curl
    line; runserver on a free port, in the background until the script ends; curl told to
    write the answer and its status to files."""
    block = "\n".join(shell_block(TEMPLATE_DIR / "README.md", "Use it"))
    bake_log = work / "bake.log"
    address = f"http://127.0.0.1:{port}"
    block = replace_once(
        block,
        f"cookiecutter {TEMPLATE_STAND_IN}",
        f"cookiecutter --no-input {shlex.quote(str(TEMPLATE_DIR))} | tee {bake_log}; "
        f"KEY=$(sed -n 's/^First API key: //p' {bake_log})",
    )
    block = replace_once(
        block,
        "python manage.py runserver",
        f"python manage.py runserver 127.0.0.1:{port} --noreload >{work / 'runserver.log'} 2>&1 "
        f"& started {address}",
    )
    block = replace_once(block, KEY_STAND_IN, "$KEY")
    block = replace_once(block, DOCUMENTED_ADDRESS, address)
    block = replace_once(
        block,
        "curl ",
        f"curl --noproxy '*' -sS -o {work / 'whoami.json'} -w '%{{http_code}}\\n' ",
    )
    prelude = """set -eo pipefail
server=
trap '[ -z "$server" ] || kill "$server"' EXIT
started() {  # wait up to 60 s for the server started last to answer at $1
    server=$!
    for _ in $(seq 120); do
        curl --noproxy '*' -fs -o /dev/null "$1/healthz/" && return 0
        sleep 0.5
    done
    echo "runserver did not answer at $1" >&2
    return 1
}
"""
    return prelude + block + "\n"


def test_readme_use_it_block_works_word_for_word(
    plain_cookiecutter: PlainCookiecutter, tmp_path: Path
) -> None:
    """The block bakes with the hook setting up .venv, the project's suite passes in it, and
    the printed key gets 200 from whoami under runserver."""
    work = tmp_path / "work"
    work.mkdir()
    script = use_it_script(work, free_port())
    result = plain_cookiecutter.run(
        ["bash", "-c", f". {plain_cookiecutter.venv}/bin/activate\n{script}"], work
    )
    log = format_output(result)
    if (work / "runserver.log").exists():
        log += "\n--- runserver.log\n" + (work / "runserver.log").read_text()
    assert result.returncode == 0, log
    project = work / "my_api"
    uses_uv = "uv =" in (project / ".venv" / "pyvenv.cfg").read_text()
    assert uses_uv == (plain_cookiecutter.installer == "uv"), log
    assert f"Setting up .venv with {'uv' if uses_uv else 'venv and pip'}" in result.stdout, log
    assert len(FIRST_KEY_LINE.findall((work / "bake.log").read_text())) == 1, log
    assert re.search(r" \d+ passed(, \d+ skipped)? in ", result.stdout), log
    assert result.stdout.splitlines()[-1] == "200", log
    assert json.loads((work / "whoami.json").read_text())["name"] == "first key", log


def test_generated_run_it_is_part_of_the_use_it_block() -> None:
    """The generated README's "Run it" commands come, in order, after `cd my_api` in the
    template README's "Use it" block, so the test above runs them too."""
    readme = TEMPLATE_DIR / "{{cookiecutter.project_slug}}" / "README.md"
    run_it = [without_comment(line) for line in shell_block(readme, "Run it")]
    use_it = [without_comment(line) for line in shell_block(TEMPLATE_DIR / "README.md", "Use it")]
    after_cd = iter(use_it[use_it.index("cd my_api") + 1 :])
    assert run_it and all(line in after_cd for line in run_it), (run_it, use_it)


def closed_index_variables() -> dict[str, str | None]:
    """pip and uv pointed at a package index on a 127.0.0.1 port where nothing listens, with
    every other source of packages (pip's config files, find-links, extra indexes) removed."""
    url = f"http://127.0.0.1:{free_port()}/simple/"
    return {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_INDEX_URL": url,
        "PIP_RETRIES": "0",  # fail at once; pip's retries only add waiting here
        "PIP_EXTRA_INDEX_URL": None,
        "PIP_FIND_LINKS": None,
        "UV_INDEX_URL": url,
        "UV_DEFAULT_INDEX": None,
        "UV_INDEX": None,
        "UV_EXTRA_INDEX_URL": None,
        "UV_FIND_LINKS": None,
    }


def finishing_steps(output: str, heading: str) -> list[str]:
    """The commands printed after `heading`, the hook's last lines."""
    lines = output.splitlines()
    assert heading in lines, output
    steps = lines[lines.index(heading) + 1 :]
    assert steps and all(step.startswith("    ") for step in steps), output
    return [step.strip() for step in steps]


def reason_sentence(output: str) -> str:
    """The one line that says why the first key was not created; fails unless there is one."""
    lines = [line for line in output.splitlines() if line.startswith(NOT_CREATED)]
    assert len(lines) == 1, output
    reason = lines[0].removeprefix(NOT_CREATED)
    assert reason.endswith(".") and ". " not in reason, f"Not one sentence: {reason}"
    return reason


def test_without_a_package_index_no_venv_is_left_and_the_commands_are_printed(
    plain_cookiecutter: PlainCookiecutter, tmp_path: Path
) -> None:
    result = plain_cookiecutter.bake(tmp_path, **closed_index_variables())
    project = tmp_path / "my_api"

    assert result.returncode == 0, format_output(result)
    assert (project / ".env").is_file() and (project / "manage.py").is_file()
    assert not (project / ".venv").exists(), format_output(result)
    assert not FIRST_KEY_LINE.search(result.stdout), format_output(result)
    assert "failed" in reason_sentence(result.stdout)
    assert finishing_steps(result.stdout, "To finish, run:") == [
        f"cd {project}",
        "python3 -m venv .venv && . .venv/bin/activate",
        "pip install --require-hashes -r requirements-dev.lock",
        "python manage.py migrate",
        "python manage.py createapikey --name 'first key'",
    ]


def test_postgresql_without_a_server_keeps_the_venv_and_the_printed_commands_finish(
    uv_cookiecutter: PlainCookiecutter, tmp_path: Path
) -> None:
    """With no PostgreSQL server (PGHOST names a folder with no socket in it), .venv is made
    and kept, and the hook says what is left; with a server, those commands create the key.
    With uv only: what follows the install does not depend on the installer."""
    slug = f"plain_{os.urandom(4).hex()}"
    no_server = tmp_path / "no-server"
    no_server.mkdir()
    result = uv_cookiecutter.bake(
        tmp_path, "database=postgresql", f"project_slug={slug}", PGHOST=str(no_server)
    )
    project = tmp_path / slug

    assert result.returncode == 0, format_output(result)
    assert not FIRST_KEY_LINE.search(result.stdout), format_output(result)
    assert "createdb" in reason_sentence(result.stdout)
    steps = finishing_steps(result.stdout, "To finish (.venv is ready), run:")
    assert steps == [
        f"cd {project}",
        ". .venv/bin/activate",
        f"createdb {slug}  # or set DATABASE_URL in .env",
        "python manage.py migrate",
        "python manage.py createapikey --name 'first key'",
    ]
    imports = [str(project / ".venv" / "bin" / "python"), "-c", "import django, psycopg"]
    assert subprocess.run(imports, env=clean_environment(), check=False).returncode == 0

    if not is_listening(POSTGRES_URL):
        unavailable(f"No PostgreSQL server answers at {POSTGRES_URL.rpartition('@')[2]}.")
    libpq = libpq_variables(POSTGRES_URL)
    try:
        finished = uv_cookiecutter.run(
            ["bash", "-c", "\n".join(["set -e", *steps])], tmp_path, **libpq
        )
        brand = slug.replace("_", "")[:20]
        assert re.search(rf"^{brand}_\w+$", finished.stdout, re.MULTILINE), format_output(finished)
    finally:
        import psycopg
        from psycopg import sql

        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(slug)))
