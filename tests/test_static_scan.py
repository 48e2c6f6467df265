"""Static security scan: bandit finds no medium or high severity issue in the default bake's code
(`<slug>/` and `config/`, tests excluded)."""

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from tests.baking import BakedProject, format_output


def project_code(project: BakedProject) -> list[Path]:
    """The Python files of `<slug>/` and `config/`, outside any `tests` folder."""
    files = []
    for folder in (project.slug, "config"):
        for path in sorted((project.path / folder).rglob("*.py")):
            relative = path.relative_to(project.path)
            if "tests" not in relative.parts:
                files.append(relative)
    return files


def test_bandit_finds_no_medium_or_high_severity_issue(
    default_project: BakedProject, tmp_path: Path, report_figures: Callable[[list[str]], None]
) -> None:
    files = project_code(default_project)
    report_path = tmp_path / "bandit.json"
    started = time.perf_counter()
    # Exit status 1 means "found something", whatever its severity: the report says what.
    result = default_project.run_python(
        "-m",
        "bandit",
        "--quiet",
        "--format",
        "json",
        "--output",
        str(report_path),
        *map(str, files),
    )
    seconds = time.perf_counter() - started
    assert report_path.is_file(), format_output(result)
    report = json.loads(report_path.read_text())
    assert not report["errors"], report["errors"]
    severities = Counter(issue["issue_severity"] for issue in report["results"])
    totals = report["metrics"]["_totals"]
    report_figures(
        [
            f"bandit on {len(files)} files ({totals['loc']} lines) of {default_project.bake.id} "
            f"in {seconds:.1f} s: high {severities['HIGH']}, medium {severities['MEDIUM']}, "
            f"low {severities['LOW']}; lines marked nosec: {totals['nosec']}",
            *(
                f"{issue['issue_severity'].lower()}: {issue['filename']}:{issue['line_number']} "
                f"{issue['test_id']} {issue['issue_text']}"
                for issue in report["results"]
            ),
        ]
    )
    assert files
    serious = [
        f"{issue['filename']}:{issue['line_number']}: {issue['test_id']} {issue['issue_text']}"
        for issue in report["results"]
        if issue["issue_severity"] in ("MEDIUM", "HIGH")
    ]
    assert not serious, "\n".join(serious)
