"""Check the answers before any file is written; a bad one stops generation with one sentence."""

import keyword
import re
import sys

ANSWERS = {
    "project_name": {{ cookiecutter.project_name|tojson }},
    "project_slug": {{ cookiecutter.project_slug|tojson }},
    "description": {{ cookiecutter.description|tojson }},
    "database": {{ cookiecutter.database|tojson }},
    "cache": {{ cookiecutter.cache|tojson }},
    "first_key_name": {{ cookiecutter.first_key_name|tojson }},
}
CHOICES = {"database": ("sqlite", "postgresql"), "cache": ("locmem", "redis")}

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
    "whitenoise",
}
KEY_NAME_MAX_LENGTH = 100  # APIKey.name's max_length


def find_problem(answers: dict[str, str]) -> str | None:
    """Return one sentence saying what is wrong with the answers, or None."""
    name = answers["project_name"]
    if not name.strip():
        return "project_name is empty: give the project a name, e.g. 'Billing API'."
    if len(name) > 50:
        return f"project_name is {len(name)} characters long: use 50 or fewer."
    description = answers["description"]
    if len(description) > 72:
        return f"description is {len(description)} characters long: use 72 or fewer."
    for variable in ("project_name", "description"):
        if any(not char.isprintable() for char in answers[variable]):
            return f"{variable} contains control characters: use printable text only."

    slug = answers["project_slug"]
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", slug):
        return (
            f"project_slug {slug!r} is not a valid package name: use lowercase ASCII letters, "
            "digits and underscores, starting with a letter, at most 40 characters "
            "(e.g. 'billing_api')."
        )
    if keyword.iskeyword(slug) or keyword.issoftkeyword(slug):
        return f"project_slug {slug!r} is a Python keyword: choose another name."
    if slug in TAKEN_NAMES or slug in sys.stdlib_module_names:
        return (
            f"project_slug {slug!r} would shadow the Python package of the same name: "
            "choose another name (e.g. 'my_api')."
        )

    for variable, allowed in CHOICES.items():
        if answers[variable] not in allowed:
            return f"{variable} must be one of {', '.join(allowed)}; got {answers[variable]!r}."

    key_name = answers["first_key_name"]
    if not key_name.strip() or len(key_name) > KEY_NAME_MAX_LENGTH:
        return f"first_key_name must be 1 to {KEY_NAME_MAX_LENGTH} characters long."
    if any(not char.isprintable() for char in key_name):
        return "first_key_name contains control characters: use printable text only."
    return None


if __name__ == "__main__":
    problem = find_problem(ANSWERS)
    if problem:
        print(f"ERROR: {problem}", file=sys.stderr)
        sys.exit(1)
