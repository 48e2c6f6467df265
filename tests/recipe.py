"""A page of the generated project's docs ("Customising the key model", "Moving from
djangorestframework-api-key"), applied as a user would: to a copy of a bake, with the code and
the shell commands taken from the baked page itself, so that the text cannot drift from what the
tests check.

The page's fenced blocks are its steps, in order:

- a `sh` block: each line is run in the project folder; it is `python manage.py ...` or
  `ruff ...` (run with the test's Python, `python -m ruff`), and may end with a `# comment`;
- a `python` block whose first line is `# <path>`: write that file with the block;
- a `python` block whose first line is `# append to <path>`: append the rest to that file;
- a `python` block whose first line is `# add to class <Name> in <path>`: put the rest at the top
  of that class's body (after its docstring, if any), indented as the body is.

A `python` block that starts with anything but a comment is an illustration, not a step; so is a
block in any other language. A step that cannot be followed fails the test with what is wrong,
in the page's own words.
"""

import ast
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

# The pages, relative to the project folder.
CUSTOMISING = "docs/customising-the-key-model.md"
MOVING = "docs/moving-from-djangorestframework-api-key.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
WRITE = re.compile(r"# (?P<path>[\w./-]+\.py)")
APPEND = re.compile(r"# append to (?P<path>[\w./-]+\.py)")
ADD = re.compile(r"# add to class (?P<name>\w+) in (?P<path>[\w./-]+\.py)")
# The commands a `sh` line may start with, and how the test runs them.
COMMANDS = {"python": [sys.executable], "ruff": [sys.executable, "-m", "ruff"]}
# What the customising page makes, as it names it.
APP = "organizations"
KEY_MODEL = "organizations.OrganizationAPIKey"
ENDPOINT = "/api/v1/organization/"
SCOPE = "organization:read"
ADDED_FIELD = "contact_email"  # the field its first step adds to APIKey
# The copy keeps .env (local settings read it), and leaves out the bake's database and caches.
NOT_COPIED = shutil.ignore_patterns(
    "db.sqlite3*", "staticfiles", "__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"
)


@dataclass(frozen=True)
class Step:
    kind: str  # "run", "write", "append" or "add"
    target: str  # the command line, or the file's path
    text: str = ""
    class_name: str = ""  # for "add"


def read_page(project: BakedProject, page: str) -> str:
    """The text of one of the baked project's docs pages."""
    path = project.path / page
    if not path.is_file():
        pytest.fail(f"The baked project has no {page}.", pytrace=False)
    return path.read_text(encoding="utf-8")


def recipe_steps(text: str, page: str) -> list[Step]:
    """The page's steps, in its order."""
    steps = []
    for language, body in FENCE.findall(text):
        if language == "sh":
            lines = (line.strip() for line in body.splitlines())
            steps += [Step("run", line) for line in lines if line and not line.startswith("#")]
        elif language == "python":
            first_line, _, rest = body.partition("\n")
            if match := APPEND.fullmatch(first_line):
                steps.append(Step("append", match["path"], rest))
            elif match := ADD.fullmatch(first_line):
                steps.append(Step("add", match["path"], rest, match["name"]))
            elif match := WRITE.fullmatch(first_line):
                steps.append(Step("write", match["path"], body))
            elif first_line.startswith("#"):
                pytest.fail(
                    f"In {page}, a python block starts with {first_line!r}, which names neither "
                    "a file to write ('# app/file.py'), one to append to ('# append to "
                    "path/file.py'), nor a class to add to ('# add to class Name in "
                    "path/file.py').",
                    pytrace=False,
                )
    return steps


def copy_for_recipe(project: BakedProject, destination: Path) -> BakedProject:
    """A copy of the bake (its .env included) to apply the recipe to."""
    path = Path(shutil.copytree(project.path, destination / project.slug, ignore=NOT_COPIED))
    return dataclasses.replace(project, path=path)


def run_step(project: BakedProject, command: str, variables: dict[str, str], page: str) -> str:
    """Run one of the page's shell lines in the project folder."""
    words = shlex.split(command, comments=True)
    if (
        not words
        or words[0] not in COMMANDS
        or (words[0] == "python" and words[1:2] != ["manage.py"])
    ):
        pytest.fail(
            f"{page} asks to run {command!r}; this test runs only `python manage.py` and "
            "`ruff` lines.",
            pytrace=False,
        )
    result = subprocess.run(
        [*COMMANDS[words[0]], *words[1:]],
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
            f"{page} cannot be followed as written: {command!r} failed.\n" + format_output(result),
            pytrace=False,
        )
    return result.stdout


def add_to_class(source: str, class_name: str, text: str) -> str | None:
    """`source` with `text` at the top of the body of its class `class_name` (after the class's
    docstring), indented as that body is; None if the module defines no such class."""
    tree = ast.parse(source)
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    found = next((node for node in classes if node.name == class_name), None)
    if found is None:
        return None
    lines = source.splitlines(keepends=True)
    first = found.body[0]
    indent = " " * first.col_offset
    has_docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
    if has_docstring and isinstance(first.value.value, str):
        after = first.end_lineno or first.lineno
    else:  # after the line that ends the `class ...:` header
        after = found.lineno
        while not lines[after - 1].split("#", 1)[0].rstrip().endswith(":"):
            after += 1
    added = "".join(indent + line if line.strip() else line for line in text.splitlines(True))
    return "".join([*lines[:after], added, *lines[after:]])


def apply_recipe(project: BakedProject, variables: dict[str, str], page: str) -> list[str]:
    """Follow the docs page `page` in `project` (a copy), with `variables` in the environment of
    its commands (DATABASE_URL, REDIS_URL); return what was done, one line per step."""
    done = []
    for step in recipe_steps(read_page(project, page), page):
        if step.kind == "run":
            run_step(project, step.target, variables, page)
            done.append(f"ran {step.target}")
            continue
        path = project.path / step.target
        if step.kind == "write":
            if not path.parent.is_dir():
                pytest.fail(
                    f"{page} writes {step.target}, but no step before it makes "
                    f"{path.parent.relative_to(project.path)}/.",
                    pytrace=False,
                )
            path.write_text(step.text, encoding="utf-8")
            done.append(f"wrote {step.target}")
            continue
        if not path.is_file():
            pytest.fail(
                f"{page} changes {step.target}, which the project does not have.", pytrace=False
            )
        if step.kind == "append":
            with path.open("a", encoding="utf-8") as file:
                file.write("\n" + step.text)
            done.append(f"appended to {step.target}")
        else:
            changed = add_to_class(path.read_text(encoding="utf-8"), step.class_name, step.text)
            if changed is None:
                pytest.fail(
                    f"{page} adds to class {step.class_name} in {step.target}, which defines no "
                    "such class.",
                    pytrace=False,
                )
            path.write_text(changed, encoding="utf-8")
            done.append(f"added to class {step.class_name} in {step.target}")
    return done
