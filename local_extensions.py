"""Jinja filters for the template (cookiecutter loads them through `_extensions`), and the checks
of the answers, which run while cookiecutter asks (refuse_bad_answers) and again in
hooks/pre_gen_project.py."""

import keyword
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from cookiecutter.exceptions import FailedHookException
from cookiecutter.utils import simple_filter

CHOICES = {
    "database": ("sqlite", "postgresql"),
    "cache": ("locmem", "redis"),
    "set_up_environment": ("yes", "no"),
    "from_djangorestframework_api_key": ("no", "yes"),
}
# Soft keywords of Python 3.12 and later; 3.11's keyword.softkwlist lacks "type". One list, so
# that every Python refuses the same names.
SOFT_KEYWORDS = ("_", "case", "match", "type")
# Top-level modules the generated project imports or creates; a package of the same name would
# hide one of them.
TAKEN_NAMES = {
    "api",
    "api_keys",
    "config",
    "conftest",
    "django",
    "drf_spectacular",
    "environ",
    "gunicorn",
    "manage",
    "psycopg",
    "pytest",
    "pytest_django",
    "redis",
    "rest_framework",
    "test",
    "tests",
    "users",
    "whitenoise",
}
KEY_NAME_MAX_LENGTH = 100  # APIKey.name's max_length


class InvalidAnswer(FailedHookException):
    """An answer the template refuses. cookiecutter's command line prints the message of a
    FailedHookException alone and exits 1, with no traceback."""


# Resolved at import, from the folder cookiecutter was started in: its `_repo_dir` keeps a
# relative template path as given, which hooks (run from the new project's folder) cannot use.
TEMPLATE_DIR = str(Path(__file__).resolve().parent)


@simple_filter
def template_dir(_: object) -> str:
    """The template's own folder, as an absolute path."""
    return TEMPLATE_DIR


@simple_filter
def python_string(value: str) -> str:
    """`value` as a Python string literal, quoted the way `ruff format` writes it."""
    quote = "'" if '"' in value and "'" not in value else '"'
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


@simple_filter
def refuse_bad_answers(answers: Mapping[str, str]) -> str:
    """Stop generation with one sentence if an answer given so far is bad; else render nothing.

    cookiecutter.json renders `{{ cookiecutter|refuse_bad_answers }}` right after the slug's
    prompt, and after the last one: a bad slug is reported before the next question.
    """
    problem = find_problem(answers)
    if problem:
        raise InvalidAnswer(f"ERROR: {problem}")
    return ""


def find_problem(answers: Mapping[str, str]) -> str | None:
    """One sentence saying what is wrong with the first bad answer, or None; answers not given
    yet are skipped."""
    for variable, check in CHECKS.items():
        if variable in answers:
            problem = check(variable, answers[variable])
            if problem:
                return problem
    return None


def check_printable(variable: str, value: str) -> str | None:
    if any(not char.isprintable() for char in value):
        return f"{variable} contains control characters: use printable text only."
    return None


def check_project_name(variable: str, name: str) -> str | None:
    if not name.strip():
        return f"{variable} is empty: give the project a name, e.g. 'Billing API'."
    if len(name) > 50:
        return f"{variable} is {len(name)} characters long: use 50 or fewer."
    return check_printable(variable, name)


def check_description(variable: str, description: str) -> str | None:
    if len(description) > 72:
        return f"{variable} is {len(description)} characters long: use 72 or fewer."
    return check_printable(variable, description)


def check_key_name(variable: str, name: str) -> str | None:
    if not name.strip() or len(name) > KEY_NAME_MAX_LENGTH:
        return f"{variable} must be 1 to {KEY_NAME_MAX_LENGTH} characters long."
    return check_printable(variable, name)


def check_slug(variable: str, slug: str) -> str | None:
    if not slug:
        return f"{variable} is empty: name the Python package, e.g. 'billing_api'."
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", slug):
        return (
            f"{variable} {slug!r} is not a valid package name: use lowercase ASCII letters, "
            "digits and underscores, starting with a letter, at most 40 characters "
            "(e.g. 'billing_api')."
        )
    if keyword.iskeyword(slug) or slug in SOFT_KEYWORDS:
        return f"{variable} {slug!r} is a Python keyword: choose another name."
    if slug in TAKEN_NAMES or slug in sys.stdlib_module_names:
        return (
            f"{variable} {slug!r} would shadow the Python package of the same name: "
            "choose another name (e.g. 'my_api')."
        )
    return None


def check_choice(variable: str, value: str) -> str | None:
    allowed = CHOICES[variable]
    if value not in allowed:
        return f"{variable} must be {' or '.join(allowed)}; got {value!r}."
    return None


CHECKS: dict[str, Callable[[str, str], str | None]] = {
    "project_name": check_project_name,
    "project_slug": check_slug,
    "description": check_description,
    "database": check_choice,
    "cache": check_choice,
    "first_key_name": check_key_name,
    "set_up_environment": check_choice,
    "from_djangorestframework_api_key": check_choice,
}
