"""Bad answers stop generation with one sentence, and leave no half-made project behind."""

from pathlib import Path
from typing import Any

import pytest

from tests.baking import TEMPLATE_DIR


def bake_and_list_output(
    cookies: Any, tmp_path: Path, extra_context: dict[str, str]
) -> tuple[Any, list[Path]]:
    """Bake; return the result and every path left under pytest-cookies' output folders."""
    result = cookies.bake(extra_context=extra_context, template=str(TEMPLATE_DIR))
    output_root = tmp_path / "cookies"  # pytest-cookies bakes into cookies/bakeNN/
    left = [path.relative_to(output_root) for path in output_root.rglob("*")]
    return result, [path for path in left if len(path.parts) > 1]


@pytest.mark.parametrize(
    "extra_context",
    [
        pytest.param({"project_slug": "1api"}, id="starts-with-digit"),
        pytest.param({"project_slug": "My-API"}, id="uppercase-and-dash"),
        pytest.param({"project_slug": "class"}, id="keyword"),
        pytest.param({"project_name": "Import"}, id="keyword-from-name"),
        pytest.param({"project_slug": "match"}, id="soft-keyword"),
        pytest.param({"project_slug": "django"}, id="django"),
        pytest.param({"project_slug": "rest_framework"}, id="rest_framework"),
        pytest.param({"project_slug": "test"}, id="test"),
        pytest.param({"project_slug": "config"}, id="config"),
        pytest.param({"project_slug": "json"}, id="stdlib"),
        pytest.param({"project_name": " ", "project_slug": "blank_name"}, id="blank-name"),
        pytest.param({"project_name": ""}, id="empty-name"),
        pytest.param({"project_name": "x" * 51}, id="name-too-long"),
        pytest.param({"description": "d" * 73}, id="description-too-long"),
        pytest.param({"project_name": "Tab\there"}, id="control-character-in-name"),
        pytest.param({"first_key_name": "x" * 101}, id="key-name-too-long"),
    ],
)
def test_bad_answer_is_refused_with_one_sentence(
    cookies: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str], extra_context: dict[str, str]
) -> None:
    result, left = bake_and_list_output(cookies, tmp_path, extra_context)
    stderr = capfd.readouterr().err.strip()

    assert result.exit_code != 0
    assert not left, f"Left behind: {left}"
    assert stderr.startswith("ERROR: "), stderr
    assert len(stderr.splitlines()) == 1, stderr


@pytest.mark.parametrize("variable, value", [("database", "mysql"), ("cache", "memcached")])
def test_unknown_choice_is_refused(cookies: Any, tmp_path: Path, variable: str, value: str) -> None:
    """Cookiecutter itself refuses a value outside the choices, before any hook runs."""
    result, left = bake_and_list_output(cookies, tmp_path, {variable: value})

    assert result.exit_code != 0
    assert value in str(result.exception)
    assert not left, f"Left behind: {left}"
