"""Jinja filters for the template (cookiecutter loads them through `_extensions`)."""

from cookiecutter.utils import simple_filter


@simple_filter
def python_string(value: str) -> str:
    """`value` as a Python string literal, quoted the way `ruff format` writes it."""
    quote = "'" if '"' in value and "'" not in value else '"'
    return quote + value.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote
