"""The cases a round loads, and loading them with wrk: one key, or 1,000 keys presented in turn."""

import json
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from environment import BENCH_DIR, BenchmarkBroken, run
from serving import Server

CONNECTIONS = 8
WRK_THREADS = 1  # one wrk thread keeps up with 2 workers and leaves the cores to them
WRK_SCRIPT = BENCH_DIR / "wrk_report.lua"
WHOAMI = "/api/v1/whoami/"
# whoami's fields; older templates said "expires" for "expiry_date".
WHOAMI_FIELDS = (
    {"name", "lookup_id", "created", "expiry_date"},
    {"name", "lookup_id", "created", "expires"},
)
# The same whoami view with each key check (config/bench_views.py), and whoami itself.
VIEWS = {
    "open": ("open: no key check", "/api/v1/open-whoami/"),
    "floor": ("floor: one raw SELECT, SHA-256", "/api/v1/floor-whoami/"),
    "ours": ("ours: whoami", WHOAMI),
    "package": ("package: djangorestframework-api-key", "/api/v1/package-whoami/"),
}
REJECTED = {
    # name: (label, key presented)
    "reject_no_key": ("rejected: no key", None),
    "reject_bad_checksum": ("rejected: bad checksum", "bad_checksum"),
    "reject_unknown": ("rejected: unknown key", "unknown"),
    "reject_revoked": ("rejected: revoked key", "revoked"),
}


@dataclass
class Case:
    group: str  # cases compared with each other share a group, e.g. "postgresql/lifted"
    kind: str  # open, floor, ours, package, or reject_...
    label: str
    server: Server
    path: str
    status: int
    key: str | None = None  # one key presented: a name in Project.keys
    key_file: str | None = None  # keys presented in turn: a name in Project.key_files
    before: Callable[[], None] | None = None  # called before each measured run
    runs: list[dict[str, Any]] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.group}/{self.kind}"

    def first_key(self) -> str | None:
        """The key of the probe: the one key, or the first of the file."""
        if self.key_file:
            with self.server.project.key_files[self.key_file].open() as keys:
                return keys.readline().strip()
        return self.server.project.keys[self.key] if self.key else None


def keys_in_turn(group: str, server: Server) -> list[Case]:
    """open, floor, ours and package, each presenting its 1,000 keys in turn (the open view
    ignores the project's keys: it is loaded the same way, so that wrk works alike)."""
    files = {"open": "project", "floor": "project", "ours": "project", "package": "package"}
    cases = [
        Case(group, kind, label, server, path, 200, key_file=files[kind])
        for kind, (label, path) in VIEWS.items()
    ]
    for case in cases:
        if case.kind == "ours":  # only ours writes last_used_at and counts usage
            case.before = server.project.as_under_steady_load
    return cases


def one_key(group: str, server: Server) -> list[Case]:
    """open, ours and package with one key each, and the four rejected requests."""
    cases = [
        Case(group, "open", VIEWS["open"][0], server, VIEWS["open"][1], 200),
        Case(group, "ours", VIEWS["ours"][0], server, WHOAMI, 200, key="valid"),
        Case(group, "package", VIEWS["package"][0], server, VIEWS["package"][1], 200, "package"),
    ]
    for kind, (label, key) in REJECTED.items():
        cases.append(Case(group, kind, label, server, WHOAMI, 401, key=key))
    return cases


def headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Api-Key {key}"} if key else {}


def probe(case: Case) -> None:
    """One request by hand: the answer must be the one the case expects."""
    request = urllib.request.Request(case.server.url + case.path, headers=headers(case.first_key()))
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, body, answer_headers = answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        status, body, answer_headers = error.code, error.read(), error.headers
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if status != case.status:
        raise BenchmarkBroken(f"{case.name}: expected {case.status}, got {status}: {body[:300]!r}")
    if status == 200 and not (isinstance(data, dict) and set(data) in WHOAMI_FIELDS):
        raise BenchmarkBroken(f"{case.name}: unexpected body {body[:300]!r}")
    if status == 401 and not (isinstance(data, dict) and "error" in data):
        raise BenchmarkBroken(f"{case.name}: unexpected 401 body {body[:300]!r}")
    case.probe = {
        "status": status,
        "body_bytes": len(body),
        "error_code": data["error"].get("code") if status == 401 else None,
        "www_authenticate": answer_headers.get("WWW-Authenticate"),
    }


def wrk(case: Case, seconds: int) -> dict[str, Any]:
    """wrk's totals and latency percentiles for `seconds` of load on the case."""
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s"]
    env = dict(os.environ)
    if case.key_file:  # read by wrk_report.lua, which then presents them in turn
        env["BENCH_KEYS_FILE"] = str(case.server.project.key_files[case.key_file])
    else:
        for name, value in headers(case.first_key()).items():
            command += ["-H", f"{name}: {value}"]
    command += ["-s", str(WRK_SCRIPT), case.server.url + case.path]
    done = run(command, env=env, timeout=seconds + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise BenchmarkBroken(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def measure(case: Case, seconds: int, warmup: int) -> None:
    """Load the case for `seconds` (after `warmup` seconds) and add the figures to its runs."""
    if warmup:
        wrk(case, warmup)
    if case.before:
        case.before()
    cpu_before = case.server.worker_cpu_ns()
    figures = wrk(case, seconds)
    cpu_after = case.server.worker_cpu_ns()
    # wrk counts answers of 400 and up as status errors: all of them, or none, are expected.
    expected_errors = figures["requests"] if case.status >= 400 else 0
    if figures["requests"] == 0 or figures["status_errors"] != expected_errors:
        throttled = " (a 429 would mean that a key reached its throttle rate)"
        raise BenchmarkBroken(
            f"{case.name}: {figures['status_errors']} of {figures['requests']} answers were "
            f"400 or more; expected {expected_errors}{throttled if expected_errors == 0 else ''}"
        )
    case.runs.append(
        {
            "rps": round(figures["rps"], 1),
            "p50_ms": figures["p50_us"] / 1000,
            "p90_ms": figures["p90_us"] / 1000,
            "p99_ms": figures["p99_us"] / 1000,
            "requests": figures["requests"],
            "socket_errors": figures["socket_errors"],
            # Server CPU per answer: what the workers spent, whoever else used the machine.
            "cpu_us": (
                round((cpu_after - cpu_before) / 1000 / figures["requests"], 1)
                if cpu_before is not None and cpu_after is not None
                else None
            ),
        }
    )


def load_rounds(
    cases: list[Case],
    rounds: int,
    seconds: int,
    warmup: int,
    heading: Callable[[Case], str] = lambda case: case.group,
) -> None:
    """Every case in turn, `rounds` times; the servers stay up, so only round 1 warms up.
    Prints each case's req/s, under its `heading` whenever that changes."""
    for number in range(1, rounds + 1):
        print(f"  round {number:2} of {rounds}, req/s:", end="", flush=True)
        shown = None
        for case in cases:
            if heading(case) != shown:
                shown = heading(case)
                print(f" | {shown}", end="")
            measure(case, seconds, warmup if number == 1 else 0)
            print(f" {case.runs[-1]['rps']:.0f}", end="", flush=True)
        print()
