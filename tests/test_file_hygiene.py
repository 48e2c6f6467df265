"""Every file a bake would commit passes pre-commit's general hooks and follows .editorconfig.

The general hooks (valid YAML and TOML, no private key, no large file, one final newline, no
trailing whitespace) come from github.com/pre-commit/pre-commit-hooks, which these machines
cannot clone. Their code is the pre-commit-hooks package that requirements-dev.lock pins at the
hooks' rev (test_dev_tools.py keeps the two equal), so pre-commit runs here, for real, the hooks
the generated config lists, as `language: system` hooks calling that package's commands, over
the files git would commit in a fresh repository of the bake.

.editorconfig is read with EditorConfig's own Python core, as editors read it; every file must
have the charset, line ending, final newline, trailing whitespace and indentation style it asks
for. (Indentation width is the formatters' business: ruff format lays out the Python.)
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import editorconfig
import yaml
from identify.identify import tags_from_path

from tests.baking import BakedProject, assert_succeeded, run_command
from tests.servers import copy_project

GENERAL_HOOKS_REPO = "https://github.com/pre-commit/pre-commit-hooks"
# How pre-commit-hooks v6.0.0 defines the hooks (its .pre-commit-hooks.yaml): the command each
# runs and the files it is given.
GENERAL_HOOKS = {
    "check-added-large-files": {"entry": "check-added-large-files"},
    "check-toml": {"entry": "check-toml", "types": ["toml"]},
    "check-yaml": {"entry": "check-yaml", "types": ["yaml"]},
    "detect-private-key": {"entry": "detect-private-key", "types": ["text"]},
    "end-of-file-fixer": {"entry": "end-of-file-fixer", "types": ["text"]},
    "trailing-whitespace": {"entry": "trailing-whitespace-fixer", "types": ["text"]},
}
EXPECTED_HOOKS = set(GENERAL_HOOKS)


def repository(project: BakedProject, destination: Path) -> Path:
    """A copy of the bake in a fresh git repository, every file it would commit staged."""
    copy = copy_project(project, destination)
    assert_succeeded(run_command("git", "init", "--quiet", cwd=copy))
    assert_succeeded(run_command("git", "add", "--all", cwd=copy))
    return copy


def tracked_files(folder: Path) -> list[str]:
    listed = run_command("git", "ls-files", cwd=folder)
    assert_succeeded(listed)
    return listed.stdout.splitlines()


def general_hooks(project: BakedProject) -> list[dict[str, Any]]:
    """The hooks the bake's .pre-commit-config.yaml takes from pre-commit-hooks."""
    config = yaml.safe_load((project.path / ".pre-commit-config.yaml").read_text())
    repos = [repo for repo in config["repos"] if repo["repo"] == GENERAL_HOOKS_REPO]
    assert len(repos) == 1, f"{GENERAL_HOOKS_REPO} is not in .pre-commit-config.yaml once"
    return repos[0]["hooks"]


def run_general_hooks(
    project: BakedProject, folder: Path, work: Path
) -> subprocess.CompletedProcess[str]:
    """`pre-commit run --all-files` in `folder` with the bake's general hooks, run locally."""
    hooks = []
    for hook in general_hooks(project):
        assert hook["id"] in GENERAL_HOOKS, f"no local definition of the hook {hook['id']!r}"
        hooks.append(
            {
                **hook,
                **GENERAL_HOOKS[hook["id"]],
                "name": hook["id"],
                "language": "system",
            }
        )
    config = work / "general-hooks.yaml"
    config.write_text(yaml.safe_dump({"repos": [{"repo": "local", "hooks": hooks}]}))
    environment = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(work / "pre-commit-home"),
    }
    command = ["run", "--all-files", "--color=never", "--config", str(config)]
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *command],
        cwd=folder,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_file_passes_pre_commit_s_general_hooks(baked: BakedProject, tmp_path: Path) -> None:
    assert {hook["id"] for hook in general_hooks(baked)} == EXPECTED_HOOKS
    folder = repository(baked, tmp_path)
    result = run_general_hooks(baked, folder, tmp_path)
    assert result.returncode == 0, result.stdout
    passed = {line.split(".")[0] for line in result.stdout.splitlines() if line.endswith("Passed")}
    assert passed == EXPECTED_HOOKS, result.stdout  # each hook had files to check


def test_the_general_hooks_catch_what_they_are_for(
    default_project: BakedProject, tmp_path: Path
) -> None:
    """The hooks as run above fail a commit that breaks each rule."""
    folder = repository(default_project, tmp_path)
    with (folder / "README.md").open("a") as readme:
        readme.write("A line with trailing whitespace.  \n\n\n")
    (folder / "broken.yaml").write_text("key: [unclosed\n")
    (folder / "broken.toml").write_text("key = \n")
    (folder / "deploy.key").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n")
    (folder / "dump.json").write_text("[" + "0," * 300_000 + "0]\n")  # 600 kB
    assert_succeeded(run_command("git", "add", "--all", cwd=folder))
    result = run_general_hooks(default_project, folder, tmp_path)
    failed = {line.split(".")[0] for line in result.stdout.splitlines() if line.endswith("Failed")}
    assert failed == EXPECTED_HOOKS, result.stdout


def editorconfig_problems(folder: Path) -> list[str]:
    """Where the files git would commit in `folder` break what .editorconfig asks of them."""
    problems = []
    for name in tracked_files(folder):
        path = folder / name
        rules = editorconfig.get_properties(str(path))
        if rules.get("charset") != "utf-8":
            problems.append(f"{name}: .editorconfig gives it no charset")
        if "binary" in tags_from_path(str(path)):
            continue
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{name}: not UTF-8")
            continue
        if text.startswith("\ufeff"):
            problems.append(f"{name}: starts with a byte order mark")
        if rules.get("end_of_line") == "lf" and "\r" in text:
            problems.append(f"{name}: a CR line ending")
        if rules.get("insert_final_newline") == "true" and text and not text.endswith("\n"):
            problems.append(f"{name}: no final newline")
        for number, line in enumerate(text.split("\n"), start=1):
            if rules.get("trim_trailing_whitespace") == "true" and line != line.rstrip(" \t"):
                problems.append(f"{name}:{number}: trailing whitespace")
            indent = line[: len(line) - len(line.lstrip(" \t"))]
            if rules.get("indent_style") == "space" and "\t" in indent:
                problems.append(f"{name}:{number}: a tab in the indentation")
    return problems


def test_every_file_follows_the_editorconfig(baked: BakedProject, tmp_path: Path) -> None:
    problems = editorconfig_problems(repository(baked, tmp_path))
    assert not problems, "\n".join(problems)


def test_the_editorconfig_check_catches_what_it_is_for(
    default_project: BakedProject, tmp_path: Path
) -> None:
    """The check above fails a file that breaks each rule."""
    folder = copy_project(default_project, tmp_path)
    files = {
        "notes.md": "no newline at the end",
        "notes.txt": "trailing  \n",
        "script.py": "if True:\n\tpass\n",
        "windows.txt": "line\r\n",
    }
    for name, content in files.items():
        (folder / name).write_bytes(content.encode())
    assert_succeeded(run_command("git", "init", "--quiet", cwd=folder))
    assert_succeeded(run_command("git", "add", "--all", cwd=folder))
    assert sorted(editorconfig_problems(folder)) == [
        "notes.md: no final newline",
        "notes.txt:1: trailing whitespace",
        "script.py:2: a tab in the indentation",
        "windows.txt: a CR line ending",
    ]
