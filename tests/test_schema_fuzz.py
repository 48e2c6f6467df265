"""Schemathesis against the running default project: the API does what its OpenAPI schema says.

Every operation in /api/schema/ is called with generated input (Schemathesis' default
phases) and a key holding every scope the schema names. No answer may be a 5xx, and
each must have a documented status code, content type and body. Schemathesis' JSON report
goes to build/test-artifacts/.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.baking import BakedProject, assert_succeeded, clean_environment
from tests.servers import get

SCHEMA_PATH = "/api/schema/?format=json"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
MAX_EXAMPLES = 50  # per operation
TIME_LIMIT = 180  # seconds for the whole run; it takes about 10


def scopes_in(schema: dict) -> list[str]:
    """Every scope an operation's security requirement names."""
    return sorted(
        {
            scope
            for operations in schema["paths"].values()
            for operation in operations.values()
            for requirement in operation.get("security", [])
            for scopes in requirement.values()
            for scope in scopes
        }
    )


def create_key(project: BakedProject, name: str, scopes: list[str]) -> str:
    """A new key from `manage.py createapikey`, which prints it alone on a line."""
    arguments = [argument for scope in scopes for argument in ("--scope", scope)]
    result = project.run_python("manage.py", "createapikey", "--name", name, *arguments)
    assert_succeeded(result)
    brand = re.escape(project.context["__key_brand"])
    keys = re.findall(rf"^{brand}_\S+$", result.stdout, re.MULTILINE)
    assert len(keys) == 1, result.stdout
    return keys[0]


def test_api_answers_as_its_schema_says(
    server: str, default_project: BakedProject, tmp_path: Path, artifacts: Path
) -> None:
    status, _, body = get(f"{server}{SCHEMA_PATH}")
    assert status == 200, body
    schema = json.loads(body)
    scopes = scopes_in(schema)
    assert scopes, "The schema names no scope: the security requirements are missing."
    key = create_key(default_project, "schemathesis", scopes)

    report = artifacts / "schemathesis.json"
    report.unlink(missing_ok=True)
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{server}{SCHEMA_PATH}"),
        *("--header", f"Authorization: Api-Key {key}"),
        *("--checks", ",".join(CHECKS)),
        *("--max-examples", str(MAX_EXAMPLES)),
        *("--request-timeout", "10"),
        *("--generation-database", "none"),
        *("--report", "json", "--report-json-path", str(report)),
        "--no-color",
    ]
    # Straight to the local server, whatever proxy the environment names.
    environment = {
        name: value
        for name, value in clean_environment().items()
        if not name.lower().endswith("_proxy")
    }
    try:
        result = subprocess.run(
            command,
            cwd=tmp_path,  # where Hypothesis and Schemathesis keep their working files
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIME_LIMIT,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        output = (error.stdout or b"").decode(errors="replace")  # bytes, whatever text= says
        pytest.fail(f"Schemathesis ran over {TIME_LIMIT} s:\n{output}", pytrace=False)
    # Schemathesis hides the Authorization header in its output, so the key is not shown.
    if result.returncode != 0:
        pytest.fail(
            f"Schemathesis exited with {result.returncode}:\n{result.stdout}", pytrace=False
        )

    # A run where every answer is a 401 passes the checks too; Schemathesis warns about it.
    summary = json.loads(report.read_text())
    warnings = {warning: where for warning, where in summary["warnings"].items() if where}
    assert not warnings, f"Schemathesis warned: {warnings}\n{result.stdout}"
    operations = sum(len(operations) for operations in schema["paths"].values())
    assert summary["operations"]["tested"] == operations, result.stdout
