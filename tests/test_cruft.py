"""Template updates through cruft, as the generated README describes them: `cruft create` makes
the same ready project as cookiecutter (first key included) and writes .cruft.json; after a
commit in the project and one in the template, `cruft update -y` applies the template's change,
keeps the project's own edits, and leaves no rejected hunk (.env and the other files that are
the copy's own stay out of the diff)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.baking import TEMPLATE_DIR, assert_succeeded, run_command

CRUFT = Path(sys.executable).parent / "cruft"
GIT_USER = ["-c", "user.name=Template Tests", "-c", "user.email=tests@example.com"]
MODELS = Path("{{cookiecutter.project_slug}}/{{cookiecutter.project_slug}}/api_keys/models.py")
THE_PROJECT_S_FIELD = "    contact = models.EmailField(blank=True)\n"
THE_TEMPLATE_S_CHANGE = "A later version of the template changed this line."


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run_command(*command, cwd=cwd, timeout=300)


def commit(folder: Path, message: str) -> None:
    assert_succeeded(run("git", "add", "--all", cwd=folder))
    assert_succeeded(run("git", *GIT_USER, "commit", "--quiet", "-m", message, cwd=folder))


@pytest.fixture
def template(tmp_path: Path) -> Path:
    """A git repository holding this template's files as they are in the working tree."""
    listed = run("git", "ls-files", "--cached", "--others", "--exclude-standard", cwd=TEMPLATE_DIR)
    assert_succeeded(listed)
    copy = tmp_path / "template"
    for name in listed.stdout.splitlines():
        source = TEMPLATE_DIR / name
        if source.is_file() and not name.startswith("bench/"):
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
            target.chmod(source.stat().st_mode)
    assert_succeeded(run("git", "init", "--quiet", "--initial-branch=main", cwd=copy))
    commit(copy, "The template")
    return copy


def test_cruft_creates_a_ready_project_and_brings_later_template_changes(
    template: Path, tmp_path: Path, cookiecutter_config: Path
) -> None:
    created = run(
        CRUFT,
        "create",
        "--no-input",
        "--config-file",
        cookiecutter_config,
        "--output-dir",
        tmp_path / "out",
        template,
        cwd=tmp_path,
    )
    assert_succeeded(created)
    project = tmp_path / "out" / "my_api"
    key = next(line for line in created.stdout.splitlines() if line.startswith("First API key: "))
    key = key.removeprefix("First API key: ")
    checked = run(
        sys.executable,
        "manage.py",
        "shell",
        "--verbosity=0",
        "-c",
        f"from my_api.api_keys.models import APIKey; print(APIKey.objects.is_valid({key!r}))",
        cwd=project,
    )
    assert checked.stdout.strip() == "True", checked.stdout
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == str(template)
    assert (project / ".env").stat().st_mode & 0o777 == 0o600

    # The project is committed, then changes its key model (adds a field to APIKey).
    assert_succeeded(run("git", "init", "--quiet", "--initial-branch=main", cwd=project))
    commit(project, "A new project")
    models = project / "my_api" / "api_keys" / "models.py"
    text = models.read_text()
    anchor = "    objects: ClassVar[APIKeyManager] = APIKeyManager()\n"
    models.write_text(text.replace(anchor, anchor + THE_PROJECT_S_FIELD))
    commit(project, "Our own field")
    env_file = (project / ".env").read_bytes()

    # The template changes the same module elsewhere, and a file the project left alone.
    template_models = template / MODELS
    _, rest = template_models.read_text().split("\n", 1)
    template_models.write_text(f'"""{THE_TEMPLATE_S_CHANGE}"""\n{rest}')
    readme = template / "{{cookiecutter.project_slug}}" / "README.md"
    readme.write_text(readme.read_text() + f"\n{THE_TEMPLATE_S_CHANGE}\n")
    commit(template, "A later version")

    updated = run(CRUFT, "update", "--skip-apply-ask", cwd=project)
    assert_succeeded(updated)
    assert "First API key" not in updated.stdout  # nothing is set up in cruft's own renders
    assert not list(project.rglob("*.rej")), updated.stdout
    merged = models.read_text()
    assert THE_PROJECT_S_FIELD in merged
    assert merged.startswith(f'"""{THE_TEMPLATE_S_CHANGE}"""')
    assert THE_TEMPLATE_S_CHANGE in (project / "README.md").read_text()
    assert (project / ".env").read_bytes() == env_file
    changed = run("git", "status", "--porcelain", cwd=project).stdout.split("\n")
    assert sorted(line[3:] for line in changed if line) == [
        ".cruft.json",
        "README.md",
        "my_api/api_keys/models.py",
    ]
    assert_succeeded(run(CRUFT, "check", cwd=project))
