"""Bad answers stop generation with one sentence, and leave no half-made project behind.

cookiecutter checks the answers while it asks (local_extensions.refuse_bad_answers, rendered
from cookiecutter.json right after the slug's prompt and after the last one); the
pre-generation hook checks them again for contexts that skip the questions (a replay file).
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.baking import TEMPLATE_DIR, run_command

BAD_ANSWERS = [
    pytest.param({"project_slug": "1api"}, id="starts-with-digit"),
    pytest.param({"project_slug": "My-API"}, id="uppercase-and-dash"),
    pytest.param({"project_slug": ""}, id="empty-slug"),
    pytest.param({"project_slug": "class"}, id="keyword"),
    pytest.param({"project_name": "Import"}, id="keyword-from-name"),
    # Soft keywords: refused on every Python, although 3.11's keyword.softkwlist lacks "type".
    pytest.param({"project_slug": "match"}, id="soft-keyword-match"),
    pytest.param({"project_slug": "case"}, id="soft-keyword-case"),
    pytest.param({"project_slug": "type"}, id="soft-keyword-type"),
    pytest.param({"project_slug": "_"}, id="soft-keyword-underscore"),
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
    pytest.param({"database": "mysql"}, id="unknown-database"),
    pytest.param({"cache": "memcached"}, id="unknown-cache"),
    pytest.param({"first_key_name": "x" * 101}, id="key-name-too-long"),
    # Typed words, not cookiecutter booleans, which it converts itself, with a traceback.
    pytest.param({"set_up_environment": "maybe"}, id="set-up-environment-not-yes-or-no"),
    pytest.param({"from_djangorestframework_api_key": "y"}, id="moving-not-yes-or-no"),
]


def left_behind(output_root: Path) -> list[Path]:
    """Every path under `output_root` but the bake folders pytest-cookies makes itself."""
    left = [path.relative_to(output_root) for path in output_root.rglob("*")]
    return [path for path in left if len(path.parts) > 1]


def cookiecutter_command(
    output_dir: Path, *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The `cookiecutter` command on this template, run in `cwd`; stderr merged into stdout."""
    config = output_dir.parent / "cookiecutter-config.yaml"
    config.write_text(
        f"replay_dir: {json.dumps(str(output_dir.parent / 'replay'))}\n"
        f"cookiecutters_dir: {json.dumps(str(output_dir.parent / 'cookiecutters'))}\n"
    )
    return run_command(
        sys.executable,
        *("-m", "cookiecutter", "--config-file", config, "--output-dir", output_dir, *args),
        stdin=stdin,
        cwd=cwd,
    )


@pytest.mark.parametrize("extra_context", BAD_ANSWERS)
def test_bad_answer_is_refused_with_one_sentence(
    cookies: Any, tmp_path: Path, extra_context: dict[str, str]
) -> None:
    result = cookies.bake(extra_context=extra_context, template=str(TEMPLATE_DIR))
    message = str(result.exception)

    assert result.exit_code != 0
    assert not left_behind(tmp_path / "cookies"), "Left behind"
    assert message.startswith("ERROR: "), message
    assert len(message.splitlines()) == 1, message


@pytest.mark.parametrize(
    "answer",
    ["project_slug=1api", "project_slug=", "project_slug=type", "database=mysql"],
)
def test_the_command_prints_the_sentence_alone(tmp_path: Path, answer: str) -> None:
    output_dir = tmp_path / "out"
    output_dir.mkdir()

    result = cookiecutter_command(output_dir, "--no-input", str(TEMPLATE_DIR), answer)

    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stdout
    assert list(output_dir.iterdir()) == []


def test_a_bad_slug_is_refused_before_the_next_question(tmp_path: Path) -> None:
    output_dir = tmp_path / "out"
    output_dir.mkdir()

    context = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
    questions = sum(1 for name in context if not name.startswith("_"))
    # Enter for the name, a bad slug, then Enter for every later question (never asked).
    stdin = "\n1api\n" + "\n" * questions
    result = cookiecutter_command(output_dir, str(TEMPLATE_DIR), stdin=stdin)

    assert result.returncode == 1
    assert f"[2/{questions}]" in result.stdout
    assert f"[3/{questions}]" not in result.stdout
    assert result.stdout.rstrip().endswith(
        "ERROR: project_slug '1api' is not a valid package name: use lowercase ASCII letters, "
        "digits and underscores, starting with a letter, at most 40 characters "
        "(e.g. 'billing_api')."
    )
    assert "Traceback" not in result.stdout
    assert list(output_dir.iterdir()) == []


def test_the_hook_refuses_a_replayed_bad_answer(tmp_path: Path) -> None:
    """A replay skips the questions: the pre-generation hook refuses the answer with its
    sentence, first on standard error. cookiecutter then logs the failed hook with a traceback
    of its own, which no hook can prevent (cookiecutter 2.7, hooks.run_hook_from_repo_dir)."""
    first_dir, output_dir = tmp_path / "first", tmp_path / "out"
    first_dir.mkdir()
    output_dir.mkdir()
    assert cookiecutter_command(first_dir, "--no-input", str(TEMPLATE_DIR)).returncode == 0
    [replay] = (tmp_path / "replay").iterdir()
    context = json.loads(replay.read_text())
    context["cookiecutter"]["project_slug"] = "1api"
    bad_replay = tmp_path / "bad-replay.json"
    bad_replay.write_text(json.dumps(context))

    result = cookiecutter_command(output_dir, "--replay-file", str(bad_replay), str(TEMPLATE_DIR))

    assert result.returncode != 0
    assert result.stdout.startswith("ERROR: project_slug '1api' is not a valid package name")
    assert list(output_dir.iterdir()) == []


def test_a_template_path_relative_to_the_current_folder_bakes(tmp_path: Path) -> None:
    """`cookiecutter path/to/template`, as the README writes it: the hooks run from the new
    project's folder, and still find the template's code."""
    output_dir = tmp_path / "out"
    output_dir.mkdir()
    args = ("--no-input", TEMPLATE_DIR.name, "set_up_environment=no")
    result = cookiecutter_command(output_dir, *args, cwd=TEMPLATE_DIR.parent)
    assert result.returncode == 0, result.stdout
    assert (output_dir / "my_api" / "manage.py").is_file()
