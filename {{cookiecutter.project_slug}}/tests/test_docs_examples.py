"""The Python in README.md and docs/keys-and-the-api.md, taken from the pages as they are: run,
linted and type-checked, so that a reader who copies it gets what the page says.

A block that is whole (it imports what it uses) runs as it is, and each `expression  # comment`
line in it must give what its comment says. A block that shows part of something (a view's
scopes, a line of settings) runs where the page says it goes.
"""

import logging
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import cast

import pytest
from django.urls import path
from rest_framework.generics import GenericAPIView, ListCreateAPIView
from rest_framework.response import Response

from {{ cookiecutter.project_slug }}.api import views
from {{ cookiecutter.project_slug }}.api_keys.models import APIKey

PROJECT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", "docs/keys-and-the-api.md"]
FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(page: str) -> list[str]:
    return FENCE.findall((PROJECT / page).read_text())


def block_starting(page: str, start: str) -> str:
    [block] = [block for block in python_blocks(page) if block.startswith(start)]
    return block


WHOLE = [
    block
    for page in PAGES
    for block in python_blocks(page)
    if block.startswith(("from ", "import "))
]


def run_as_written(block: str) -> dict[str, object]:
    """Run `block` a line at a time; a line `expression  # True` must give True, and a line
    `expression  # the APIKey object; ...` an APIKey."""
    namespace: dict[str, object] = {}
    for line in block.splitlines():
        code, _, comment = line.partition("  # ")
        if not code.strip():
            continue
        if comment.startswith(("True", "False")):
            expected = comment.split()[0] == "True"
            assert eval(code, namespace) is expected, line  # noqa: S307  (the page's own code)
        elif comment.startswith("the APIKey object"):
            assert isinstance(eval(code, namespace), APIKey), line  # noqa: S307
        else:
            exec(code, namespace)  # noqa: S102  (the page's own code)
    return namespace


@pytest.mark.django_db
@pytest.mark.parametrize("block", WHOLE, ids=lambda block: block.splitlines()[2][:40])
def test_whole_examples_run_as_written(block):
    namespace = run_as_written(block)
    api_key = namespace["api_key"]
    assert isinstance(api_key, APIKey)
    assert api_key.name == "billing-service"
    assert api_key.scopes == ["orders:read"]


def test_whole_examples_pass_ruff_and_mypy(tmp_path):
    """As the project's own code is checked: its ruff rules, and mypy with its settings."""
    assert WHOLE
    (tmp_path / "__init__.py").touch()  # a module of a package, as the project's are
    files = []
    for number, block in enumerate(WHOLE):
        example = tmp_path / f"example_{number}.py"
        example.write_text(block)
        files.append(str(example))
    ruff = [sys.executable, "-m", "ruff", "check", "--config", str(PROJECT / "pyproject.toml")]
    result = subprocess.run(
        [*ruff, *files], cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    mypy = [sys.executable, "-m", "mypy", "--config-file", "pyproject.toml", "--no-incremental"]
    result = subprocess.run(
        [*mypy, *files], cwd=PROJECT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_usage_view_s_scopes_are_the_view_s_own():
    block = block_starting("docs/keys-and-the-api.md", "class APIKeyUsageView(")
    namespace: dict[str, object] = {"GenericAPIView": GenericAPIView}
    exec(block, namespace)  # noqa: S102  (the page's own code)
    shown = namespace["APIKeyUsageView"]
    assert issubclass(views.APIKeyUsageView, GenericAPIView)
    assert shown.required_scopes == views.APIKeyUsageView.required_scopes  # type: ignore[attr-defined]


class Orders:
    """Handlers for the page's OrderView: what a real view's list and create would answer."""

    def get(self, request):
        return Response([])

    def post(self, request):
        return Response({}, status=201)


def order_view() -> type[ListCreateAPIView]:
    """The page's OrderView, as it is, with Orders' handlers."""
    block = block_starting("docs/keys-and-the-api.md", "class OrderView(")
    namespace: dict[str, object] = {"ListCreateAPIView": ListCreateAPIView}
    exec(block, namespace)  # noqa: S102  (the page's own code)
    shown = namespace["OrderView"]
    assert isinstance(shown, type)
    assert issubclass(shown, ListCreateAPIView)
    return cast(type[ListCreateAPIView], type("Orders", (Orders, shown), {}))


urlpatterns = [path("orders/", order_view().as_view())]


@pytest.mark.urls(__name__)
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("scopes", "get", "post"),
    [
        (["orders:read"], 200, 403),
        (["orders:write"], 403, 201),
        (["orders:read", "orders:write"], 200, 201),
    ],
)
def test_scopes_per_method_work_as_the_page_says(api_client, scopes, get, post):
    _, key = APIKey.objects.create_key(name="orders client", scopes=scopes)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api_client.get("/orders/").status_code == get
    assert api_client.post("/orders/", {}, format="json").status_code == post


def test_the_settings_line_silences_the_usage_log(tmp_path):
    """The page's line, put at the end of the settings, leaves the usage log's logger (the one
    the middleware writes to) off for INFO; Django's logging setup takes it."""
    block = block_starting("docs/keys-and-the-api.md", 'LOGGING["loggers"]')
    (tmp_path / "docs_settings.py").write_text(f"from config.settings.test import *\n\n{block}")
    check = textwrap.dedent(
        """
        import logging, django
        django.setup()
        from {{ cookiecutter.project_slug }}.api_keys.middleware import logger
        print(logger.name, logger.isEnabledFor(logging.INFO), logger.isEnabledFor(logging.WARNING))
        """
    )
    environment = {"DJANGO_SETTINGS_MODULE": "docs_settings", "PYTHONPATH": f"{tmp_path}:{PROJECT}"}
    result = subprocess.run(
        [sys.executable, "-c", check],
        cwd=PROJECT,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["api_keys.usage", "False", "True"]
    assert logging.getLogger("api_keys.usage").isEnabledFor(logging.INFO)  # here, still on


@pytest.mark.django_db
def test_the_page_s_request_for_a_child_key_mints_one(client):
    """The curl line of "Child keys", sent as written with a key holding `keys:write`."""
    page = (PROJECT / "docs/keys-and-the-api.md").read_text()
    [command] = re.findall(r"^curl -X POST .*?/api/v1/keys/$", page, re.MULTILINE | re.DOTALL)
    body = re.search(r"-d '(\{.*?\})'", command)
    url = re.search(r"http://127\.0\.0\.1:8000(/\S+)", command)
    assert body is not None
    assert url is not None
    parent, key = APIKey.objects.create_key(name="partner", scopes=["keys:write", "orders:read"])
    response = client.post(
        url[1], body[1], content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {key}"
    )
    assert response.status_code == 201, response.content
    child = APIKey.objects.get(lookup_id=response.json()["lookup_id"])
    assert child.parent == parent
    assert child.is_valid(response.json()["key"])
