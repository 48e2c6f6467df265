"""The generated project's pre-commit hooks, lint rules, type check and coverage settings.

The hook repositories (pre-commit-hooks, ruff-pre-commit, django-upgrade) cannot be fetched from
these machines, so pre-commit only validates its config here, and the same tools run directly, in
the versions the hooks name: those that requirements-dev.lock pins, which a test keeps in step
(test_file_hygiene.py runs the general hooks). mypy runs with the project's configuration on
both supported Django versions (one per test venv).
"""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.baking import (
    BAKES_BY_ID,
    DEFAULT,
    TEMPLATE_DIR,
    BakedProject,
    assert_succeeded,
    read_lock,
    read_requirements,
    run_command,
)
from tests.servers import copy_project
from tests.test_file_hygiene import GENERAL_HOOKS, GENERAL_HOOKS_REPO

CONFIG = ".pre-commit-config.yaml"
# The Django version the project supports from, as django-upgrade's --target-version; the key
# check reads request.META, the cheaper way to one header.
DJANGO_UPGRADE_ARGS = ["--target-version", "5.2", "--skip", "request_headers"]
# Default and postgresql-redis together render every option's branch of the settings.
TYPED_BAKES = [DEFAULT, BAKES_BY_ID["postgresql-redis"]]
# The ruff rule families the generated project selects (test_generated_project.py checks that
# every bake passes them); one dropped from pyproject.toml fails test_ruff_rule_families.
RUFF_FAMILIES = {
    *("E", "W", "F", "I", "N", "UP", "B", "S", "DJ", "SIM", "RUF"),
    *("C4", "PIE", "RET", "RSE", "FLY", "PERF", "FURB", "PTH", "ISC", "PT", "DTZ"),
    *("T20", "LOG", "G", "BLE", "ASYNC", "PGH", "PLE", "ERA", "INP"),
}


def hooks(project: BakedProject) -> dict[str, tuple[str, dict]]:
    """(repository, hook) by hook id."""
    config = yaml.safe_load((project.path / CONFIG).read_text())
    return {
        hook["id"]: (repo["repo"], {**hook, "rev": repo.get("rev")})
        for repo in config["repos"]
        for hook in repo["hooks"]
    }


def test_pre_commit_config_is_valid(baked: BakedProject) -> None:
    assert_succeeded(baked.run_python("-m", "pre_commit", "validate-config", CONFIG))


def test_pre_commit_hooks_run_the_locked_versions(baked: BakedProject) -> None:
    configured = hooks(baked)
    expected = {"ruff-check", "ruff-format", "django-upgrade", "mypy", "lint-imports"}
    assert expected | set(GENERAL_HOOKS) <= set(configured)
    pinned = {pin.name: str(pin.version) for pin in read_lock(baked.path / "requirements-dev.lock")}
    for hook in GENERAL_HOOKS:
        repo, general = configured[hook]
        assert (repo, general["rev"]) == (GENERAL_HOOKS_REPO, f"v{pinned['pre-commit-hooks']}")
    assert configured["ruff-check"][1]["rev"] == f"v{pinned['ruff']}"
    assert configured["django-upgrade"][1]["rev"] == pinned["django-upgrade"]
    assert configured["django-upgrade"][1]["args"] == DJANGO_UPGRADE_ARGS
    # The type check is the project's own mypy, with its configuration.
    repo, mypy = configured["mypy"]
    assert (repo, mypy["entry"], mypy["language"]) == ("local", "mypy", "system")
    repo, layers = configured["lint-imports"]
    assert (repo, layers["entry"], layers["language"]) == ("local", "lint-imports", "system")


def test_ruff_rule_families(default_project: BakedProject) -> None:
    """Every agreed family is selected, and only single rules are ignored (everywhere or in some
    files), never a whole family or a prefix of one."""
    pyproject = tomllib.loads((default_project.path / "pyproject.toml").read_text())
    lint = pyproject["tool"]["ruff"]["lint"]
    missing = RUFF_FAMILIES - set(lint["select"])
    assert not missing, f"no longer selected: {sorted(missing)}"
    ignored = set(lint["ignore"]).union(*lint["per-file-ignores"].values())
    assert all(code[-3:].isdigit() for code in ignored), sorted(ignored)


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """`lint-imports` in the project folder, as CI and pre-commit run it."""
    return run_command(Path(sys.executable).parent / "lint-imports", "--no-cache", cwd=project)


def test_the_key_app_s_layers_import_downward_only(baked: BakedProject) -> None:
    result = lint_imports(baked.path)
    assert_succeeded(result)
    assert "Contracts: 2 kept, 0 broken." in result.stdout, result.stdout


@pytest.mark.parametrize(
    ("module", "upward_import"),
    [
        ("models.py", "from .permissions import HasAPIKey  # noqa"),
        ("keys.py", "if TYPE_CHECKING:\n    from .models import APIKey  # noqa"),
        ("verification.py", "from ..api.views import WhoAmIView  # noqa"),
    ],
    ids=["run time", "TYPE_CHECKING", "the API"],
)
def test_an_import_that_points_up_breaks_the_contract(
    default_project: BakedProject, tmp_path: Path, module: str, upward_import: str
) -> None:
    project = copy_project(default_project, tmp_path)
    path = project / default_project.slug / "api_keys" / module
    text = path.read_text()
    path.write_text(f"from typing import TYPE_CHECKING\n{upward_import}\n{text}")
    result = lint_imports(project)
    assert result.returncode == 1, result.stdout
    assert "BROKEN" in result.stdout


def test_django_upgrade_changes_nothing(baked: BakedProject, tmp_path: Path) -> None:
    project = copy_project(baked, tmp_path)
    files = sorted(str(path.relative_to(project)) for path in project.rglob("*.py"))
    before = {name: (project / name).read_bytes() for name in files}
    result = baked.run_python(
        "-m", "django_upgrade", *DJANGO_UPGRADE_ARGS, *(str(project / name) for name in files)
    )
    changed = [name for name in files if (project / name).read_bytes() != before[name]]
    assert not changed, f"django-upgrade would rewrite {changed}:\n{result.stdout}"
    assert_succeeded(result)


@pytest.mark.parametrize("baked", TYPED_BAKES, indirect=True, ids=lambda bake: bake.id)
def test_mypy_is_clean(baked: BakedProject) -> None:
    """What the pre-commit hook and the CI workflow run: `mypy`, configured in pyproject.toml."""
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    cache = TEMPLATE_DIR / "build" / "mypy-cache" / f"{baked.bake.id}-{python}"
    result = baked.run_python("-m", "mypy", "--cache-dir", str(cache), timeout=600)
    assert_succeeded(result)
    assert "Success: no issues found" in result.stdout


def test_coverage_measures_the_project_s_own_code(baked: BakedProject) -> None:
    """`pytest --cov` (the CI workflow's test step) counts the project's packages, branches and
    subprocesses included, and neither migrations nor tests; below its floor it fails."""
    coverage = tomllib.loads((baked.path / "pyproject.toml").read_text())["tool"]["coverage"]
    run, report = coverage["run"], coverage["report"]
    assert sorted(run["source"]) == sorted(["config", baked.slug])
    assert all((baked.path / package / "__init__.py").is_file() for package in run["source"])
    assert (run["branch"], run["patch"]) == (True, ["subprocess"])
    assert set(run["omit"]) == {"*/migrations/*", "*/tests/*"}
    assert 80 <= report["fail_under"] < 100
    dev_requirements = read_requirements(baked.path / "requirements-dev.txt")
    assert "pytest-cov" in {requirement.name for requirement in dev_requirements}
