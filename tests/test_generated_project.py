"""Every option combination bakes into a project that is rendered, clean, deployable and green."""

import json
import re
import time
from collections.abc import Callable, Iterator
from fnmatch import fnmatch
from pathlib import Path

import pytest

from tests.baking import (
    MIGRATION_SETTINGS,
    TEMPLATE_DIR,
    BakedProject,
    assert_deploy_check_is_clean,
    assert_generated_suite_passes,
    assert_migrations_are_current,
    assert_succeeded,
    format_output,
)

TEMPLATE_TAG = re.compile(r"\{\{|\{%|\{#")
# GitHub Actions expressions, ${{ ... }}, belong in the generated workflow.
ACTIONS_EXPRESSION = re.compile(r"\$\{\{ (?!cookiecutter)[^{}]* \}\}")
# Files the template copies without rendering (Django templates keep their own tags).
COPIED_AS_IS = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())["_copy_without_render"]


def text_files(project: BakedProject) -> Iterator[tuple[Path, str]]:
    """(relative path, text) for every file that decodes as UTF-8 and has no NUL byte."""
    for path in sorted(project.path.rglob("*")):
        if not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            yield path.relative_to(project.path), data.decode("utf-8")
        except UnicodeDecodeError:
            continue


def test_project_folder_is_named_after_the_slug(baked: BakedProject) -> None:
    assert baked.path.name == baked.slug
    assert (baked.path / baked.slug / "api_keys" / "models.py").is_file()


def test_no_template_tag_is_left_unrendered(baked: BakedProject) -> None:
    leaks = []
    for relative, text in text_files(baked):
        template_path = f"{baked.slug}/{relative.as_posix()}"
        if any(fnmatch(template_path, pattern) for pattern in COPIED_AS_IS):
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if TEMPLATE_TAG.search(ACTIONS_EXPRESSION.sub("", line)):
                leaks.append(f"{relative}:{number}: {line.strip()}")
    assert not leaks, "Unrendered template tags:\n" + "\n".join(leaks)


@pytest.mark.parametrize(
    "command",
    [("check", "--no-cache", "."), ("format", "--check", "--no-cache", ".")],
    ids=["check", "format"],
)
def test_ruff_is_clean(baked: BakedProject, command: tuple[str, ...]) -> None:
    assert_succeeded(baked.run_python("-m", "ruff", *command))


def test_production_settings_pass_check_deploy(baked: BakedProject) -> None:
    assert_deploy_check_is_clean(baked)


@pytest.mark.parametrize("settings", MIGRATION_SETTINGS)
def test_migrations_match_the_models(baked: BakedProject, settings: str) -> None:
    assert_migrations_are_current(baked, settings)


@pytest.mark.usefixtures("require_services")
def test_generated_test_suite_passes(baked: BakedProject) -> None:
    assert_generated_suite_passes(baked, timeout=600)


def test_generated_suite_passes_with_every_key_check_through_the_orm(
    default_project: BakedProject,
) -> None:
    """API_KEYS["COMPILED_LOOKUP"] off: fast_lookup.py steps aside, and nothing else changes."""
    assert_generated_suite_passes(default_project, "--compiled-lookup=off", timeout=600)


def test_fuzz_tests_pass_with_10000_examples_each(
    default_project: BakedProject, report_figures: Callable[[list[str]], None]
) -> None:
    """The generated hostile-header tests with HYPOTHESIS_PROFILE=thorough, once per run: the
    suite above tries 500 values per test, this 10,000."""
    fuzz_tests = f"{default_project.slug}/api_keys/tests/test_fuzz.py"
    started = time.perf_counter()
    result = default_project.run_python(
        "-m", "pytest", "-q", fuzz_tests, timeout=900, HYPOTHESIS_PROFILE="thorough"
    )
    seconds = time.perf_counter() - started
    assert_succeeded(result)
    passed = re.search(r"(\d+) passed", result.stdout)
    assert passed, format_output(result)
    report_figures(
        [f"{fuzz_tests}, 10,000 examples per test: {passed[0]} in {seconds:.1f} s (thorough)"]
    )
