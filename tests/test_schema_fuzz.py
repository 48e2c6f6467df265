"""Schemathesis against the running default project: the API does what its OpenAPI schema says.

Every operation in /api/schema/ is called with generated input (Schemathesis' default
phases) and a key holding every scope the schema names. No answer may be a 5xx, and
each must have a documented status code, content type and body. Schemathesis' JSON report
goes to build/test-artifacts/.

The key may revoke or rotate itself (DELETE /api/v1/keys/{lookup_id}/, .../rotate/), which would
leave the rest of the run nothing but 401s. So the paths with a lookup id name one of the key's
own children for those two operations, a child each, and the key itself for the others.
"""

import json
import re
import subprocess
import sys
import urllib.request
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


def mint_child(server: str, key: str, name: str) -> str:
    """The lookup id of a new child of `key`, minted through the API."""
    request = urllib.request.Request(
        f"{server}/api/v1/keys/",
        data=json.dumps({"name": name}).encode(),
        headers={"Authorization": f"Api-Key {key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (our server)
        assert response.status == 201
        lookup_id: str = json.loads(response.read())["lookup_id"]
    return lookup_id


def lookup_ids(server: str, key: str, own: str) -> str:
    """schemathesis.toml: which lookup id each operation with one in its path is called with."""
    sections = [
        ("DELETE /api/v1/keys/{lookup_id}/", mint_child(server, key, "revoked by the fuzzer")),
        ("POST /api/v1/keys/{lookup_id}/rotate/", mint_child(server, key, "rotated by it")),
    ]
    lines = []
    for operation, lookup_id in sections:
        lines += ["[[operations]]", f"include-name = {operation!r}"]
        lines += [f'parameters = {{ "path.lookup_id" = "{lookup_id}" }}', ""]
    lines += ["[[operations]]", 'include-path-regex = "lookup_id"']
    lines += [f'parameters = {{ "path.lookup_id" = "{own}" }}', ""]
    return "\n".join(lines)


def test_api_answers_as_its_schema_says(
    server: str, default_project: BakedProject, tmp_path: Path, artifacts: Path
) -> None:
    status, _, body = get(f"{server}{SCHEMA_PATH}")
    assert status == 200, body
    schema = json.loads(body)
    scopes = scopes_in(schema)
    assert scopes, "The schema names no scope: the security requirements are missing."
    key = create_key(default_project, "schemathesis", scopes)
    own = key.split("_")[1]  # brand_<lookup id>_<secret>
    config = tmp_path / "schemathesis.toml"
    config.write_text(lookup_ids(server, key, own))

    report = artifacts / "schemathesis.json"
    report.unlink(missing_ok=True)
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config)),
        *("run", f"{server}{SCHEMA_PATH}"),
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

    # A run where every answer is a 401 passes the checks too; Schemathesis warns about it. But
    # GitHub signs its leak reports with a key only GitHub holds: every one made here is refused.
    # A key is revoked once: every DELETE after the first is a 404; and rotated once: every
    # rotation after the first is a 409. A child must be narrower than the key that mints it
    # (scopes it holds, networks, an expiry to come), which generated bodies seldom are.
    summary = json.loads(report.read_text())
    expected = {
        "missing_auth": {"POST /api/v1/secret-scanning/github/"},
        "missing_test_data": {"DELETE /api/v1/keys/{lookup_id}/"},
        "validation_mismatch": {"POST /api/v1/keys/", "POST /api/v1/keys/{lookup_id}/rotate/"},
    }
    warnings = {
        warning: unexpected
        for warning, where in summary["warnings"].items()
        if (unexpected := set(where) - expected.get(warning, set()))
    }
    assert not warnings, f"Schemathesis warned: {warnings}\n{result.stdout}"
    operations = sum(len(operations) for operations in schema["paths"].values())
    assert summary["operations"]["tested"] == operations, result.stdout
