"""A section of the generated README ("Customise the key model", "Moving from
djangorestframework-api-key"), applied as a user would: to a copy of a bake, with the code and
the shell commands taken from the baked README itself, so that the text cannot drift from what
the tests check.

The section's fenced blocks are its steps, in order:

- a `sh` block: each line is a `python manage.py ...` command, run in the project folder;
- a `python` block whose first line is `# <path>`: write that file with the block;
- a `python` block whose first line is `# append to <path>`: append the rest to that file.

A `python` block that starts with anything but a comment is an illustration, not a step. A step
that cannot be followed fails the test with what is wrong, in the section's own words.
"""

import dataclasses
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.baking import BakedProject, format_output

SECTION = "Customise the key model"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
WRITE = re.compile(r"# (?P<path>[\w./-]+\.py)")
APPEND = re.compile(r"# append to (?P<path>[\w./-]+\.py)")
# What the recipe makes, as its README names it.
APP = "organizations"
KEY_MODEL = "organizations.OrganizationAPIKey"
ENDPOINT = "/api/v1/organization/"
SCOPE = "organization:read"
# The copy keeps .env (local settings read it), and leaves out the bake's database and caches.
NOT_COPIED = shutil.ignore_patterns(
    "db.sqlite3*", "staticfiles", "__pycache__", ".pytest_cache", ".ruff_cache"
)


@dataclass(frozen=True)
class Step:
    kind: str  # "run", "write" or "append"
    target: str  # the command line, or the file's path
    text: str = ""


def section(readme: str, title: str = SECTION) -> str:
    """The text of the README's `## <title>` section."""
    parts = re.split(rf"^## {re.escape(title)}\n", readme, maxsplit=1, flags=re.MULTILINE)
    if len(parts) != 2:
        pytest.fail(f"The generated README has no section '## {title}'.", pytrace=False)
    return re.split(r"^## ", parts[1], maxsplit=1, flags=re.MULTILINE)[0]


def recipe_steps(readme: str, title: str = SECTION) -> list[Step]:
    """The section's steps, in the README's order."""
    steps = []
    for language, body in FENCE.findall(section(readme, title)):
        if language == "sh":
            steps += [Step("run", line.strip()) for line in body.splitlines() if line.strip()]
        elif language == "python":
            first_line, _, rest = body.partition("\n")
            if match := APPEND.fullmatch(first_line):
                steps.append(Step("append", match["path"], rest))
            elif match := WRITE.fullmatch(first_line):
                steps.append(Step("write", match["path"], body))
            elif first_line.startswith("#"):
                pytest.fail(
                    f"In '{title}', a python block starts with {first_line!r}, which names "
                    "neither a file to write ('# app/file.py') nor one to append to "
                    "('# append to path/file.py').",
                    pytrace=False,
                )
    return steps


def copy_for_recipe(project: BakedProject, destination: Path) -> BakedProject:
    """A copy of the bake (its .env included) to apply the recipe to."""
    path = Path(shutil.copytree(project.path, destination / project.slug, ignore=NOT_COPIED))
    return dataclasses.replace(project, path=path)


def run_step(
    project: BakedProject, command: str, variables: dict[str, str], title: str = SECTION
) -> str:
    """Run one of the section's shell lines, `python manage.py ...`, in the project folder."""
    words = shlex.split(command)
    if words[:2] != ["python", "manage.py"]:
        pytest.fail(
            f"'{title}' asks to run {command!r}; this test runs only `python manage.py` lines.",
            pytrace=False,
        )
    result = subprocess.run(
        [sys.executable, *words[1:]],
        cwd=project.path,
        env=project.environment(**variables),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"'{title}' cannot be followed as written: {command!r} failed.\n"
            + format_output(result),
            pytrace=False,
        )
    return result.stdout


def apply_recipe(
    project: BakedProject, variables: dict[str, str], title: str = SECTION
) -> list[str]:
    """Follow the README section `title` in `project` (a copy), with `variables` in the
    environment of its commands (DATABASE_URL, REDIS_URL); return what was done, one line per
    step."""
    readme = (project.path / "README.md").read_text(encoding="utf-8")
    done = []
    for step in recipe_steps(readme, title):
        if step.kind == "run":
            run_step(project, step.target, variables, title)
            done.append(f"ran {step.target}")
            continue
        path = project.path / step.target
        if step.kind == "write":
            if not path.parent.is_dir():
                pytest.fail(
                    f"'{title}' writes {step.target}, but no step before it makes "
                    f"{path.parent.relative_to(project.path)}/.",
                    pytrace=False,
                )
            path.write_text(step.text, encoding="utf-8")
            done.append(f"wrote {step.target}")
        else:
            if not path.is_file():
                pytest.fail(
                    f"'{title}' appends to {step.target}, which the project does not have.",
                    pytrace=False,
                )
            with path.open("a", encoding="utf-8") as file:
                file.write("\n" + step.text)
            done.append(f"appended to {step.target}")
    return done
