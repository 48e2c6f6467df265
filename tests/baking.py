"""What the template tests bake, and how they run commands in a baked project.

PostgreSQL and Redis come from TEMPLATE_TEST_POSTGRES_URL and TEMPLATE_TEST_REDIS_URL (.ci/run
starts both).
"""

import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

TEMPLATE_DIR = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "TEMPLATE_TEST_POSTGRES_URL", "postgres://postgres:postgres@127.0.0.1:5432"
).rstrip("/")
REDIS_URL = os.environ.get("TEMPLATE_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")

# One entry of a lock file: `name==version ; marker \`.
PIN = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)\s*(?:;\s*(?P<marker>[^\\]+))?")
# Figures the server tests measured, by test: printed at the end of the run (conftest.py).
FIGURES = pytest.StashKey[list[tuple[str, list[str]]]]()
# Which variable of ours says where the server behind a project's variable is.
SERVER_SETTINGS = {
    "DATABASE_URL": "TEMPLATE_TEST_POSTGRES_URL",
    "REDIS_URL": "TEMPLATE_TEST_REDIS_URL",
}
# Variables a developer's shell may set that would change what a baked project does (libpq's
# PGHOST, PGUSER... would let the hook's createdb reach a server of theirs).
SCRUBBED_VARIABLES = ("DATABASE_URL", "REDIS_URL", "PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST")
# xdist tells its workers apart with PYTEST_XDIST_*: a baked project's own suite must not see them.
SCRUBBED_PREFIXES = ("DJANGO_", "PG", "PYTEST_XDIST_")
# Env files people keep beside .env and in subfolders (docs/deploying.md runs `--env-file
# production.env`): each holds secrets, so neither git nor an image may take one.
ENV_FILES = [".env", ".env.local", ".env.prod", "production.env", "deploy/staging.env"]


@dataclass(frozen=True)
class Bake:
    """One way to answer the template's questions."""

    id: str
    extra_context: dict[str, str] = field(default_factory=dict)
    # Redis database number for the generated suite, so two suites never share keys.
    redis_db: int = 1

    @property
    def database(self) -> str:
        return self.extra_context.get("database", "sqlite")

    @property
    def cache(self) -> str:
        return self.extra_context.get("cache", "locmem")


# Every database x cache combination once; the all-defaults answers are sqlite x locmem.
DEFAULT = Bake("default-sqlite-locmem")
BAKES = [
    DEFAULT,
    # Quotes and non-ASCII text must survive rendering into Python, TOML and the hook.
    Bake(
        "sqlite-redis",
        {
            "project_name": "Ledger's Café API",
            "description": 'Keeps "the" ledger',
            "first_key_name": "Ledger's ops key",
            "cache": "redis",
        },
        redis_db=1,
    ),
    Bake("postgresql-locmem", {"project_name": "Orders API", "database": "postgresql"}),
    Bake(
        "postgresql-redis",
        {"project_name": "Fleet API", "database": "postgresql", "cache": "redis"},
        redis_db=2,
    ),
]
BAKES_BY_ID = {bake.id: bake for bake in BAKES}
# With the moving tools (legacy keys and hashes, importapikeys, moveapikeymigrations) and the
# moving guide, docs/moving-from-djangorestframework-api-key.md: the two served shapes.
MOVING = {"from_djangorestframework_api_key": "yes"}
MOVING_BAKES = [
    Bake("moving-sqlite-locmem", MOVING),
    Bake(
        "moving-postgresql-redis",
        {"project_name": "Depot API", "database": "postgresql", "cache": "redis", **MOVING},
        redis_db=3,
    ),
]


def clean_environment() -> dict[str, str]:
    """os.environ without the variables that configure Django projects or pytest runs."""
    return {
        name: value
        for name, value in os.environ.items()
        if name not in SCRUBBED_VARIABLES and not name.startswith(SCRUBBED_PREFIXES)
    }


@contextlib.contextmanager
def scrubbed_os_environ() -> Iterator[None]:
    """Run cookiecutter, and so its hooks, with clean_environment() as os.environ."""
    with pytest.MonkeyPatch.context() as patch:
        for name in set(os.environ) - set(clean_environment()):
            patch.delenv(name)
        yield


def server_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or {"redis": 6379}.get(parts.scheme, 5432)


def is_listening(url: str) -> bool:
    try:
        with socket.create_connection(server_address(url), timeout=2):
            return True
    except OSError:
        return False


def skip_without_services(project: "BakedProject") -> None:
    """Skip (or under CI, fail) when a server the project's options need is not listening."""
    for variable, url in project.service_urls().items():
        if not is_listening(url):
            host, port = server_address(url)
            unavailable(
                f"{project.bake.id} needs a server at {host}:{port} for {variable}; nothing "
                f"listens there. Start it (.ci/run shows how) or set {SERVER_SETTINGS[variable]}."
            )


def record_figures(config: pytest.Config, title: str, lines: list[str]) -> None:
    """Keep measured figures for the end-of-run summary, and print them (shown with -s)."""
    config.stash.setdefault(FIGURES, []).append((title, lines))
    print("\n".join([title, *lines]))


def run_command(
    *command: str | Path, cwd: Path | None = None, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command in `cwd` with clean_environment(); stderr is merged into stdout."""
    return subprocess.run(
        [str(part) for part in command],
        input=stdin,
        cwd=cwd,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )


def format_output(result: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(map(str, result.args))}  (exit {result.returncode})\n{result.stdout}"


def read_requirements(path: Path) -> list[Requirement]:
    """Requirement lines of a pip requirements file; comments and `-r` includes are skipped."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


@dataclass
class Pin:
    """One `name==version` entry of a lock, with its hashes and what it is there for."""

    name: str
    version: Version
    marker: str | None
    hashes: list[str] = field(default_factory=list)
    via: list[str] = field(default_factory=list)


def read_lock(path: Path) -> list[Pin]:
    """The entries of a `uv pip compile --generate-hashes` output file, with their `# via`."""
    pins: list[Pin] = []
    in_via = False
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not line.startswith((" ", "#")) and stripped:
            match = PIN.match(stripped)
            assert match, f"{path.name}: not a pinned requirement: {line!r}"
            marker = match["marker"].strip() if match["marker"] else None
            pins.append(Pin(canonicalize_name(match["name"]), Version(match["version"]), marker))
            in_via = False
        elif stripped.startswith("--hash=") and pins:
            pins[-1].hashes.append(stripped.removeprefix("--hash=").rstrip(" \\"))
        elif stripped.startswith("# via") and pins:
            in_via = True
            if rest := stripped.removeprefix("# via").strip():
                pins[-1].via.append(rest)
        elif in_via and stripped.startswith("#   ") and pins:
            pins[-1].via.append(stripped.removeprefix("#").strip())
        else:
            in_via = False
    return pins


def unavailable(reason: str) -> NoReturn:
    """Skip the test for want of something outside Python (a server, a browser); under CI
    (the CI variable is set), fail it instead."""
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def assert_succeeded(result: subprocess.CompletedProcess[str]) -> None:
    """Fail with the command and its output unless it exited 0."""
    if result.returncode != 0:
        pytest.fail(format_output(result), pytrace=False)


def assert_deploy_check_is_clean(project: "BakedProject", **variables: str) -> None:
    """`manage.py check --deploy --fail-level WARNING` with production settings (and the
    variables they require) exits 0 and finds nothing."""
    result = project.run_python(
        "manage.py",
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(45),  # 60 characters
        DJANGO_ALLOWED_HOSTS="api.example.com",
        **variables,
    )
    assert_succeeded(result)
    # Two silenced: HSTS includeSubDomains and preload are off until the environment opts in
    # (security.W005, security.W021; see the project's config/settings/production.py).
    assert "System check identified no issues (2 silenced)." in result.stdout, format_output(result)


# Both: the test settings add the suite's example apps, whose migrations must be current too.
MIGRATION_SETTINGS = ["config.settings.local", "config.settings.test"]


def assert_migrations_are_current(project: "BakedProject", settings: str, **variables: str) -> None:
    """`manage.py makemigrations --check --dry-run` with `settings` finds nothing to write."""
    result = project.run_python(
        "manage.py",
        "makemigrations",
        "--check",
        "--dry-run",
        DJANGO_SETTINGS_MODULE=settings,
        **variables,
    )
    assert_succeeded(result)


def assert_generated_suite_passes(
    project: "BakedProject", *options: str, timeout: float = 900, **variables: str
) -> None:
    """The project's own `python -m pytest -q` (with `options`) collects tests and passes."""
    result = project.run_python("-m", "pytest", "-q", *options, timeout=timeout, **variables)
    if result.returncode == 5:
        pytest.fail(
            "The generated suite collected no tests.\n" + format_output(result), pytrace=False
        )
    assert_succeeded(result)


@dataclass(repr=False)
class BakedProject:
    """The outcome of one bake, and how to run commands in the baked project."""

    bake: Bake
    path: Path
    exit_code: int
    exception: BaseException | None
    context: dict[str, Any]
    stdout: str
    stderr: str
    seconds: float

    def __repr__(self) -> str:
        return f"<BakedProject {self.bake.id} at {self.path}>"

    @property
    def slug(self) -> str:
        return self.context["project_slug"]

    def service_urls(self) -> dict[str, str]:
        """DATABASE_URL and REDIS_URL for the servers this project's options need."""
        urls = {}
        if self.bake.database == "postgresql":
            urls["DATABASE_URL"] = f"{POSTGRES_URL}/{self.slug}"
        if self.bake.cache == "redis":
            urls["REDIS_URL"] = f"{REDIS_URL}/{self.bake.redis_db}"
        return urls

    def environment(self, **variables: str) -> dict[str, str]:
        return {**clean_environment(), **self.service_urls(), **variables}

    def run_python(
        self, *args: str, timeout: float = 120, **variables: str
    ) -> subprocess.CompletedProcess[str]:
        """Run `python <args>` in the project folder; stderr is merged into stdout."""
        return subprocess.run(
            [sys.executable, *args],
            cwd=self.path,
            env=self.environment(**variables),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )


@contextlib.contextmanager
def captured_output(directory: Path) -> Iterator[dict[str, str]]:
    """Capture file descriptors 1 and 2, which the hooks (child processes) write to.

    The session-scoped bakes cannot use capfd; this does the same for one bake.
    """
    captured: dict[str, str] = {}
    files = {fd: (directory / f"fd{fd}.txt").open("w+", encoding="utf-8") for fd in (1, 2)}
    saved = {fd: os.dup(fd) for fd in files}
    try:
        for fd, file in files.items():
            os.dup2(file.fileno(), fd)
        yield captured
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        for fd, file in files.items():
            file.seek(0)
            captured["stdout" if fd == 1 else "stderr"] = file.read()
            file.close()


class Bakery:
    """Bakes each Bake at most once per session."""

    def __init__(self, cookies: Any, work_dir: Path, times: dict[str, float]) -> None:
        self._cookies = cookies
        self._work_dir = work_dir
        self._times = times
        self._projects: dict[str, BakedProject] = {}

    def get(self, bake: Bake) -> BakedProject:
        if bake.id not in self._projects:
            self._projects[bake.id] = self._bake(bake)
        return self._projects[bake.id]

    def _bake(self, bake: Bake) -> BakedProject:
        capture_dir = self._work_dir / bake.id
        capture_dir.mkdir()
        with scrubbed_os_environ(), captured_output(capture_dir) as output:
            started = time.perf_counter()
            result = self._cookies.bake(
                extra_context=bake.extra_context, template=str(TEMPLATE_DIR)
            )
            seconds = time.perf_counter() - started
        self._times[bake.id] = seconds
        return BakedProject(
            bake=bake,
            path=result.project_path,
            exit_code=result.exit_code,
            exception=result.exception,
            context=dict(result.context or {}),
            stdout=output["stdout"],
            stderr=output["stderr"],
            seconds=seconds,
        )
