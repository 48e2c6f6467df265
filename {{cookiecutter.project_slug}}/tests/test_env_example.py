"""`.env.example` lists every variable the project reads, and only those."""

import ast
import re
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
# What a developer or a deployment configures; config/settings/test.py reads none of it.
READERS = [
    "config/settings/base.py",
    "config/settings/local.py",
    "config/settings/production.py",
    "gunicorn.conf.py",
]
VARIABLE = re.compile(r"[A-Z][A-Z0-9_]*")


def is_environment_reader(function: ast.expr) -> bool:
    """`env(...)`, `env.bool(...)` and the like, `environ.Env().bool(...)`, or
    `os.environ.get(...)`."""
    if isinstance(function, ast.Name):
        return function.id == "env"
    if isinstance(function, ast.Attribute):
        owner = function.value
        if isinstance(owner, ast.Call):  # environ.Env().bool(...)
            owner = owner.func
            return isinstance(owner, ast.Attribute) and owner.attr == "Env"
        if isinstance(owner, ast.Attribute):  # os.environ.get(...)
            return owner.attr == "environ" and function.attr == "get"
        return isinstance(owner, ast.Name) and owner.id == "env"
    return False


def variables_read(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and is_environment_reader(node.func)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
            and VARIABLE.fullmatch(node.args[0].value)
        ):
            names.add(node.args[0].value)
    return names


def variables_listed() -> set[str]:
    """Names set in .env.example, or shown commented out (`# NAME=value`)."""
    lines = (PROJECT / ".env.example").read_text().splitlines()
    return {match[1] for line in lines if (match := re.match(r"#? ?([A-Z][A-Z0-9_]*)=", line))}


def test_env_example_lists_every_variable_the_project_reads():
    read = set().union(*(variables_read(PROJECT / path) for path in READERS))
    assert "DJANGO_SECRET_KEY" in read  # the reader finds them at all
    assert sorted(read - variables_listed()) == [], "Add these to .env.example"
    assert sorted(variables_listed() - read) == [], "Nothing reads these: remove them"
