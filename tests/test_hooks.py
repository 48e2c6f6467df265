"""The hooks and the answer checks as units: their functions called directly, with no bake.

The post-generation hook is a template itself; `hook_module` renders it with cookiecutter's
own environment for the answers given, and imports the result, so that a function can be called
on a folder of the test's own.
"""

import importlib.util
import io
import stat
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config

import local_extensions  # the template's folder, where cookiecutter finds it too, is rootdir
from tests.baking import TEMPLATE_DIR


def answers(**given: Any) -> dict[str, Any]:
    """The cookiecutter context for these answers, derived values included."""
    context = generate_context(
        context_file=str(TEMPLATE_DIR / "cookiecutter.json"), extra_context=given
    )
    return dict(prompt_for_config(context, no_input=True))


@pytest.fixture
def hook_module(tmp_path: Path) -> Callable[..., ModuleType]:
    """Render hooks/post_gen_project.py for the answers given; import it as a module whose
    PROJECT is `tmp_path / "project"`."""

    def load(extra: dict[str, Any] | None = None, **given: Any) -> ModuleType:
        context = {**answers(**given), **(extra or {})}
        environment = StrictEnvironment(context={"cookiecutter": context})
        source = (TEMPLATE_DIR / "hooks" / "post_gen_project.py").read_text()
        path = tmp_path / "post_gen_project.py"
        path.write_text(environment.from_string(source).render(cookiecutter=context))
        spec = importlib.util.spec_from_file_location("post_gen_project", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        project = tmp_path / "project"
        project.mkdir(exist_ok=True)
        module.PROJECT = project
        module.VENV = project / ".venv"
        module.VENV_PYTHON = module.VENV / "bin" / "python"
        return module

    return load


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ({"project_name": " "}, "project_name is empty"),
        ({"project_name": "x" * 51}, "51 characters long"),
        ({"project_name": "Bad\x1b[2J"}, "control characters"),
        ({"project_slug": "2fast"}, "not a valid package name"),
        ({"project_slug": "class"}, "is a Python keyword"),
        ({"project_slug": "match"}, "is a Python keyword"),
        ({"project_slug": "users"}, "would shadow"),
        ({"project_slug": "json"}, "would shadow"),
        ({"database": "mysql"}, "database must be sqlite or postgresql; got 'mysql'."),
        ({"cache": "memcached"}, "cache must be locmem or redis"),
        ({"first_key_name": ""}, "first_key_name must be 1 to 100 characters long."),
        ({"description": "x" * 73}, "73 characters long"),
        ({"set_up_environment": "true"}, "set_up_environment must be yes or no; got 'true'."),
        ({"from_djangorestframework_api_key": "Yes"}, "must be no or yes; got 'Yes'."),
    ],
)
def test_a_bad_answer_gets_one_sentence(given: dict[str, str], problem: str) -> None:
    found = local_extensions.find_problem(given)
    assert found is not None and problem in found
    assert found.endswith(".") and "\n" not in found


def test_good_answers_pass() -> None:
    assert local_extensions.find_problem(answers()) is None
    assert local_extensions.find_problem(answers(project_name="Ledger's Café API")) is None


def test_the_env_file_is_private_and_never_overwritten(hook_module: Callable[..., Any]) -> None:
    hook = hook_module(database="postgresql", cache="redis")
    hook.write_env_file()
    env_file = hook.PROJECT / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = env_file.read_text()
    assert "DATABASE_URL=postgres:///my_api" in written
    assert "REDIS_URL=redis://127.0.0.1:6379/0" in written
    secret = next(line for line in written.splitlines() if line.startswith("DJANGO_SECRET_KEY="))
    assert len(secret.removeprefix("DJANGO_SECRET_KEY=")) >= 50
    printed = io.StringIO()
    with redirect_stdout(printed):
        hook.write_env_file()
    assert env_file.read_text() == written
    assert "Kept the existing" in printed.getvalue()


@pytest.mark.parametrize(
    ("given", "removed", "kept"),
    [
        ({}, ["my_api/api_keys/legacy.py", "tests/test_postgresql.py"], ["tests/test_sqlite.py"]),
        (
            {"from_djangorestframework_api_key": "yes", "database": "postgresql"},
            ["tests/test_sqlite.py", "tests/test_redis_cache.py"],
            ["my_api/api_keys/legacy.py", "docs/moving-from-djangorestframework-api-key.md"],
        ),
    ],
)
def test_only_the_chosen_options_files_are_kept(
    hook_module: Callable[..., Any], given: dict[str, str], removed: list[str], kept: list[str]
) -> None:
    hook = hook_module(**given)
    every_file = {path for paths in hook.OPTION_FILES.values() for path in paths}
    for name in every_file:
        (hook.PROJECT / name).parent.mkdir(parents=True, exist_ok=True)
        (hook.PROJECT / name).write_text("")
    hook.remove_unused_option_files()
    for name in removed:
        assert not (hook.PROJECT / name).exists(), name
    for name in kept:
        assert (hook.PROJECT / name).exists(), name


def test_the_manual_steps_finish_the_job(hook_module: Callable[..., Any]) -> None:
    hook = hook_module(database="postgresql", first_key_name="ops key")
    printed = io.StringIO()
    with redirect_stdout(printed):
        hook.print_manual_steps("no package index", install=True, activate=False, database=True)
    lines = printed.getvalue().splitlines()
    assert lines[0] == "The first API key was not created: no package index."
    steps = [line.strip() for line in lines[2:]]
    assert steps[0] == f"cd {hook.PROJECT}"
    assert "pip install --require-hashes -r requirements-dev.lock" in steps
    assert "createdb my_api  # or set DATABASE_URL in .env" in steps
    assert steps[-1] == "python manage.py createapikey --name 'ops key'"


@pytest.mark.parametrize(
    ("parent", "by_cruft", "compare"),
    [
        (["python", "/usr/bin/cruft", "update", "-y"], True, True),
        (["python", "-m", "cruft", "diff"], True, True),
        (["python", "/usr/bin/cruft", "create", "gh:org/template"], True, False),
        (["python", "/usr/bin/cookiecutter", "update"], False, False),
    ],
)
def test_cruft_s_renders_for_a_diff_set_nothing_up(
    hook_module: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    parent: list[str],
    by_cruft: bool,
    compare: bool,
) -> None:
    hook = hook_module({"_commit": "0" * 40} if by_cruft else None)
    monkeypatch.setattr(hook, "parent_command", lambda: parent)
    assert hook.rendered_to_compare() is compare


def test_the_hook_reads_its_parent_s_command_line(hook_module: Callable[..., Any]) -> None:
    """As cookiecutter runs it: a child of the process that renders the project (here, this
    test's)."""
    hook = hook_module()
    code = (
        "import importlib.util as u, sys; "
        f"s = u.spec_from_file_location('hook', {hook.__file__!r}); m = u.module_from_spec(s); "
        "s.loader.exec_module(m); print(m.parent_command())"
    )
    printed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert printed.stdout.strip() == str(sys.orig_argv), printed.stdout + printed.stderr
