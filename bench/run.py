"""Benchmark the generated project's API key check, end to end, on this machine.

    python bench/run.py            # full run: 30 alternating rounds of 1 s per case
    python bench/run.py --quick    # 1 round of 1 s per case, 2,000 extra keys: proves it works

Bakes the default project into a temporary folder, serves it with gunicorn (2 workers,
persistent database connections) and loads it with wrk (8 connections). Writes
bench/results/latest.json and latest.png (quick.json and quick.png with --quick).
Exits non-zero only when something is broken, never for a missed target. See bench/README.md.
"""

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
# One per Python version, so that runs under several Pythons do not rebuild each other's.
VENV_DIR = BENCH_DIR / f".venv-py{sys.version_info.major}{sys.version_info.minor}"
REQUIREMENTS = BENCH_DIR / "requirements.txt"
OVERLAY_DIR = BENCH_DIR / "overlay"
WRK_SCRIPT = BENCH_DIR / "wrk_report.lua"
RESULTS_DIR = BENCH_DIR / "results"

WORKERS = 2
CONNECTIONS = 8
WRK_THREADS = 1  # one wrk thread keeps up with 2 workers and leaves the cores to them
WHOAMI = "/api/v1/whoami/"
# whoami's fields; older templates said "expires" for "expiry_date".
WHOAMI_FIELDS = (
    {"name", "lookup_id", "created", "expiry_date"},
    {"name", "lookup_id", "created", "expires"},
)

# Target checks. The rejected-request one allows for run-to-run noise (see README).
TARGET_KEY_VS_BASELINE = 0.90
TARGET_KEY_VS_PACKAGE = 2.0
TARGET_MANY_KEYS_SLOWDOWN = 1.10
REJECTED_NOISE_ALLOWANCE = 0.95


class BenchmarkBroken(Exception):
    """Something the benchmark needs did not work; its numbers would mean nothing."""


# --- the benchmark's own environment ------------------------------------------------------


def requirements_stamp() -> str:
    material = REQUIREMENTS.read_bytes() + platform.python_version().encode()
    return hashlib.sha256(material).hexdigest()


def enter_venv(script: Path) -> None:
    """Re-run `script` in bench/.venv-pyXY, creating or updating it from requirements.txt."""
    if Path(sys.prefix).resolve() == VENV_DIR.resolve():
        return
    python = VENV_DIR / "bin" / "python"
    stamp = VENV_DIR / ".requirements-stamp"
    if not stamp.exists() or stamp.read_text() != requirements_stamp():
        print(f"Installing bench/requirements.txt into {VENV_DIR} ...", flush=True)
        shutil.rmtree(VENV_DIR, ignore_errors=True)
        venv.create(VENV_DIR, with_pip=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        done = subprocess.run([*pip, "-r", str(REQUIREMENTS)], capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"pip could not install bench/requirements.txt:\n{done.stderr[-3000:]}")
        stamp.write_text(requirements_stamp())
    os.execv(python, [str(python), str(script.resolve()), *sys.argv[1:]])


# --- small helpers ------------------------------------------------------------------------


def run(
    command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None, timeout=600
) -> subprocess.CompletedProcess:
    """Run a command; on failure, raise BenchmarkBroken with the end of its output."""
    try:
        done = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as error:
        raise BenchmarkBroken(f"{' '.join(command)} took over {timeout} s") from error
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-25:])
        raise BenchmarkBroken(f"{' '.join(command)} exited {done.returncode}:\n{tail}")
    return done


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def quartiles(values: list[float]) -> list[float]:
    """The first and third quartiles (both the value itself when there is one)."""
    if len(values) < 2:
        return [values[0], values[0]]
    first, _, third = statistics.quantiles(values, n=4)
    return [round(first, 3), round(third, 3)]


def machine_facts() -> dict[str, Any]:
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    from importlib.metadata import version

    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "django": version("Django"),
        "djangorestframework": version("djangorestframework"),
        "djangorestframework_api_key": version("djangorestframework-api-key"),
        "gunicorn": version("gunicorn"),
        "wrk": wrk_version.split(" Copyright")[0].strip() or "unknown",
    }


def template_revision(template: Path) -> str:
    """The commit baked, with "-dirty" when the template (bench/ aside) has changes."""

    def git(*args: str) -> str:
        command = ["git", "-C", str(template), *args]
        return subprocess.run(command, capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "unknown (not a git checkout)"
    changed = git("status", "--porcelain", "--", ".", ":(exclude)bench")
    return commit + ("-dirty" if changed else "")


# --- the baked project --------------------------------------------------------------------


@dataclass
class Project:
    root: Path
    python: Path
    first_key: str
    keys: dict[str, str] = field(default_factory=dict)

    def env(self, database: Path) -> dict[str, str]:
        """The environment of every process that runs the baked project for the benchmark."""
        values = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL"))
        }
        values.update(
            DJANGO_SETTINGS_MODULE="config.settings.bench",
            DJANGO_SECRET_KEY="benchmark-only-" + "x" * 50,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_CONN_MAX_AGE="600",
            DJANGO_LOG_LEVEL="WARNING",
            DATABASE_URL=f"sqlite:///{database}",
        )
        return values

    def tasks(self, database: Path, *args: str, log: Path | None = None) -> str:
        """Run bench_tasks.py; its output goes to `log` when given (as gunicorn's goes to a
        file), else it is returned."""
        command = [str(self.python), "bench_tasks.py", *args]
        if log is None:
            return run(command, cwd=self.root, env=self.env(database)).stdout
        with log.open("w") as output:
            done = subprocess.run(
                command,
                cwd=self.root,
                env=self.env(database),
                stdout=output,
                stderr=output,
                timeout=900,
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-25:])
            raise BenchmarkBroken(f"bench_tasks.py {args[0]} exited {done.returncode}:\n{tail}")
        return ""


def bake(template: Path, workdir: Path) -> tuple[Project, float]:
    """The default project, baked with --no-input (hooks included), and the seconds it took."""
    config = workdir / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {workdir / 'cookiecutters'}\nreplay_dir: {workdir / 'replay'}\n"
    )
    output = workdir / "baked"
    command = [
        str(Path(sys.executable).with_name("cookiecutter")),
        "--no-input",
        "--config-file",
        str(config),
        "--output-dir",
        str(output),
        str(template),
    ]
    started = time.perf_counter()
    done = run(command, cwd=workdir, timeout=300)
    seconds = time.perf_counter() - started
    (root,) = output.iterdir()
    found = re.search(r"^First API key: (\S+)$", done.stdout, re.MULTILINE)
    if not found:
        raise BenchmarkBroken(f"the post-generation hook printed no first key:\n{done.stdout}")
    return Project(root=root, python=Path(sys.executable), first_key=found[1]), seconds


def run_generated_suite(project: Project) -> dict[str, Any]:
    """`python -m pytest -q` in the baked project, timed, before the benchmark changes it."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    started = time.perf_counter()
    done = subprocess.run(
        [str(project.python), "-m", "pytest", "-q"],
        cwd=project.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    return {
        "seconds": round(seconds, 2),
        "summary": lines[-1] if lines else done.stderr.strip()[-300:],
        "ok": done.returncode == 0,
    }


def prepare(project: Project, workdir: Path, extra_keys: int) -> tuple[Path, Path]:
    """Copy the benchmark's files in, migrate, make keys; return the one-key and many-key DBs."""
    shutil.copytree(OVERLAY_DIR, project.root, dirs_exist_ok=True)
    (project.root / "staticfiles").mkdir(exist_ok=True)  # no collectstatic: the API needs none
    one_key_db = project.root / "db.sqlite3"  # made by the hook, holding the first key
    run(
        [str(project.python), "manage.py", "migrate", "--verbosity", "0"],
        cwd=project.root,
        env=project.env(one_key_db),
    )
    keys_file = workdir / "keys.json"
    project.tasks(one_key_db, "keys", str(keys_file))
    keys = json.loads(keys_file.read_text())
    valid = project.first_key
    last = valid[-1]
    keys.update(valid=valid, bad_checksum=valid[:-1] + ("A" if last != "A" else "B"))
    project.keys = keys
    many_keys_db = workdir / "many_keys.sqlite3"
    shutil.copyfile(one_key_db, many_keys_db)
    print("  " + project.tasks(many_keys_db, "bulk", str(extra_keys)).strip(), flush=True)
    return one_key_db, many_keys_db


# --- servers and load ---------------------------------------------------------------------


@dataclass
class Server:
    name: str
    database: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def start(self, project: Project, logs: Path) -> None:
        self.port = free_port()
        log = (logs / f"gunicorn-{self.name}.log").open("w")
        gunicorn = str(project.python.with_name("gunicorn"))
        command = [gunicorn, "config.wsgi:application", "--workers", str(WORKERS)]
        command += ["--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"]
        # Recent gunicorn opens a control socket at one fixed path by default, which several
        # servers (ours, or anyone's on this machine) cannot share.
        if "--no-control-socket" in run([gunicorn, "--help"]).stdout:
            command.append("--no-control-socket")
        self.process = subprocess.Popen(
            command,
            cwd=project.root,
            env=project.env(self.database),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, logs: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"{self.url}/healthz/", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        log = (logs / f"gunicorn-{self.name}.log").read_text()[-2000:]
        raise BenchmarkBroken(f"gunicorn ({self.name}) did not start:\n{log}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def worker_cpu_ns(self) -> int | None:
        """CPU time the workers have used so far, in nanoseconds; None where Linux's
        /proc/<pid>/schedstat cannot tell. Time spent waiting for a core is not in it."""
        pid = self.process.pid
        try:
            workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            return sum(int(Path(f"/proc/{w}/schedstat").read_text().split()[0]) for w in workers)
        except (OSError, ValueError, IndexError):
            return None


@dataclass
class Case:
    name: str
    label: str
    server: str
    path: str
    key: str | None  # a name in Project.keys
    status: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    probe: dict[str, Any] = field(default_factory=dict)


def load_cases(many: str) -> list[Case]:
    """The cases, in the order each round runs them: compared cases run next to each other."""
    # fmt: off
    table = [
        # name, label, server, path, key presented, expected status
        ("baseline", "no key check (baseline)", "one_key", "/api/v1/open-whoami/", None, 200),
        ("whoami", "whoami, key", "one_key", WHOAMI, "valid", 200),
        ("package", "djangorestframework-api-key", "one_key", "/api/v1/package-whoami/",
         "package", 200),
        ("whoami_many", f"whoami, {many} keys", "many_keys", WHOAMI, "valid", 200),
        ("reject_no_key", "rejected: no key", "one_key", WHOAMI, None, 401),
        ("reject_bad_checksum", "rejected: bad checksum", "one_key", WHOAMI, "bad_checksum",
         401),
        ("reject_unknown", "rejected: unknown key", "one_key", WHOAMI, "unknown", 401),
        ("reject_revoked", "rejected: revoked key", "one_key", WHOAMI, "revoked", 401),
    ]
    # fmt: on
    return [Case(*row) for row in table]


def authorization(project: Project, case: Case) -> dict[str, str]:
    return {"Authorization": f"Api-Key {project.keys[case.key]}"} if case.key else {}


def probe(server: Server, project: Project, case: Case) -> dict[str, Any]:
    """One request by hand: the answer must be the one the case expects."""
    request = urllib.request.Request(server.url + case.path, headers=authorization(project, case))
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            status, body, headers = answer.status, answer.read(), answer.headers
    except urllib.error.HTTPError as error:
        status, body, headers = error.code, error.read(), error.headers
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
    return {
        "status": status,
        "body_bytes": len(body),
        "error_code": data["error"].get("code") if status == 401 else None,
        "www_authenticate": headers.get("WWW-Authenticate"),
    }


def wrk(url: str, headers: dict[str, str], seconds: int) -> dict[str, Any]:
    command = ["wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = run([*command, "-s", str(WRK_SCRIPT), url], timeout=seconds + 60)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if line is None:
        raise BenchmarkBroken(f"wrk printed no summary:\n{done.stdout}\n{done.stderr}")
    figures = json.loads(line.removeprefix("WRK_JSON "))
    figures["rps"] = figures["requests"] / (figures["duration_us"] / 1e6)
    return figures


def measure_case(server: Server, project: Project, case: Case, seconds: int, warmup: int) -> None:
    url, headers = server.url + case.path, authorization(project, case)
    if warmup:
        wrk(url, headers, warmup)
    cpu_before = server.worker_cpu_ns()
    figures = wrk(url, headers, seconds)
    cpu_after = server.worker_cpu_ns()
    # wrk counts answers of 400 and up as status errors: all of them, or none, are expected.
    expected_errors = figures["requests"] if case.status >= 400 else 0
    if figures["requests"] == 0 or figures["status_errors"] != expected_errors:
        raise BenchmarkBroken(
            f"{case.name}: {figures['status_errors']} of {figures['requests']} answers were "
            f"400 or more; expected {expected_errors}"
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


# --- results ------------------------------------------------------------------------------


def summarize(case: Case) -> dict[str, Any]:
    def values(name: str) -> list[float]:
        return [run_[name] for run_ in case.runs]

    return {
        "label": case.label,
        "path": case.path,
        "expected_status": case.status,
        "probe": case.probe,
        "median": {
            name: round(median(values(name)), 3) if None not in values(name) else None
            for name in ("rps", "p50_ms", "p99_ms", "cpu_us")
        },
        "rps_min": min(values("rps")),
        "rps_max": max(values("rps")),
        "rps_quartiles": quartiles(values("rps")),
        "cpu_us_quartiles": quartiles(values("cpu_us")) if None not in values("cpu_us") else None,
        "runs": case.runs,
    }


def ratio(cases: dict[str, dict[str, Any]], top: str, bottom: str) -> dict[str, Any]:
    """req/s of `top` over `bottom`: the median of the ratios within each round.

    Each round measures both cases a few seconds apart, so a change in the machine's load
    between rounds cancels out of the ratio. The ratio of the two medians is given too, and
    the same comparison made with server CPU per request (`bottom`'s over `top`'s, so that
    it reads like the req/s ratio), as a second opinion.
    """
    pairs = list(zip(cases[top]["runs"], cases[bottom]["runs"], strict=True))
    per_round = [round(a["rps"] / b["rps"], 3) for a, b in pairs]
    of_medians = cases[top]["median"]["rps"] / cases[bottom]["median"]["rps"]
    figures = {
        "value": round(median(per_round), 3),
        "quartiles": quartiles(per_round),
        "of_medians": round(of_medians, 3),
        "per_round": per_round,
        "cpu_value": None,
    }
    if all(a["cpu_us"] and b["cpu_us"] for a, b in pairs):
        figures["cpu_value"] = round(median([b["cpu_us"] / a["cpu_us"] for a, b in pairs]), 3)
    return figures


def plan_uses_lookup_index(plan: list[str]) -> bool:
    return any("INDEX" in row and "lookup_id" in row for row in plan)


def evaluate(cases: dict[str, dict[str, Any]], micro: dict[str, Any]) -> tuple[dict, list]:
    rejected = [name for name in cases if name.startswith("reject_")]
    ratios = {
        "key_vs_baseline": ratio(cases, "whoami", "baseline"),
        "key_vs_package": ratio(cases, "whoami", "package"),
        "one_key_vs_many_keys": ratio(cases, "whoami", "whoami_many"),
        # The most any key check could reach against the package: a check that costs nothing.
        "baseline_vs_package": ratio(cases, "baseline", "package"),
        **{f"{name}_vs_key": ratio(cases, name, "whoami") for name in rejected},
    }

    def load_target(text: str, name: str, is_met: Callable[[float], bool]) -> dict[str, Any]:
        figures = ratios[name]
        cpu = figures["cpu_value"]
        return {
            "target": text,
            "value": figures["value"],
            "met": is_met(figures["value"]),
            "cross_check": f"server CPU: {cpu}, {'met' if is_met(cpu) else 'missed'}"
            if cpu is not None
            else "",
        }

    check, bad_checksum = micro["check"], micro["requests"]["reject_bad_checksum"]
    targets = [
        load_target(
            f"whoami with a key >= {TARGET_KEY_VS_BASELINE} x baseline req/s",
            "key_vs_baseline",
            lambda value: value >= TARGET_KEY_VS_BASELINE,
        ),
        load_target(
            f"whoami with a key >= {TARGET_KEY_VS_PACKAGE} x djangorestframework-api-key req/s",
            "key_vs_package",
            lambda value: value >= TARGET_KEY_VS_PACKAGE,
        ),
        load_target(
            f"many keys within {TARGET_MANY_KEYS_SLOWDOWN} x of one key: "
            "one key's req/s over many keys'",
            "one_key_vs_many_keys",
            lambda value: value <= TARGET_MANY_KEYS_SLOWDOWN,
        ),
        {
            "target": "a key check with nothing remembered costs one query, on the lookup_id index",
            "value": check["queries"],
            "met": check["queries"] == 1 and plan_uses_lookup_index(check["plan"]),
            "cross_check": "; ".join(check["plan"]),
        },
        {
            "target": "a bad checksum costs no query",
            "value": bad_checksum["queries"],
            "met": bad_checksum["queries"] == 0,
            "cross_check": "",
        },
    ]
    for name in rejected:
        targets.append(
            load_target(
                f"{cases[name]['label']} costs no more than an accepted request: "
                f"req/s ratio >= {REJECTED_NOISE_ALLOWANCE}",
                f"{name}_vs_key",
                lambda value: value >= REJECTED_NOISE_ALLOWANCE,
            )
        )
    return ratios, targets


def report_markdown(results: dict[str, Any]) -> str:
    """The results as Markdown: printed at the end of a run and written beside the JSON."""
    machine, settings, micro = results["machine"], results["settings"], results["micro"]
    in_process = micro["requests"]
    lines = [
        f"{results['date']}, {results['mode']} run of template {results['template_revision']}: "
        f"{machine['nproc']} x {machine['cpu_model']}, Python {machine['python']}, "
        f"Django {machine['django']}, DRF {machine['djangorestframework']}, "
        f"djangorestframework-api-key {machine['djangorestframework_api_key']}, "
        f"gunicorn {machine['gunicorn']} ({settings['gunicorn_workers']} sync workers), "
        f"{machine['wrk']} ({settings['connections']} connections), SQLite. "
        f"{settings['rounds']} alternating round(s) of {settings['seconds']} s per case "
        f"({settings['warmup_seconds']} s of warm-up before the first). Load average at start "
        f"{machine['load_average_at_start'][0]}, at end {machine['load_average_at_end'][0]}.",
        "",
        "| case | req/s (median) | lowest–highest | p50 ms | p99 ms | server CPU µs/request "
        "| queries | in-process µs |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for name, case in results["cases"].items():
        middle, alone = case["median"], in_process.get(name, {})
        lines.append(
            f"| {case['label']} | {middle['rps']:.0f} | {case['rps_min']:.0f}–{case['rps_max']:.0f}"
            f" | {middle['p50_ms']:.2f} | {middle['p99_ms']:.2f} | {middle['cpu_us'] or ''} "
            f"| {alone.get('queries', '')} | {alone.get('median_us', '')} |"
        )
    lines += [
        "",
        "Server CPU: what the two workers spent per answer (Linux schedstat), median of the "
        "rounds; on a shared virtual machine busy neighbours slow every instruction, so it "
        "moves with their load too, if a little less than req/s: a second opinion, not a "
        "noise-free figure. Queries and in-process µs: one request through Django's test "
        "client in the steady "
        f"state (the many-keys database, {micro['rows_in_key_table']:,} rows); the time is "
        "the median of short slices of each case timed in turn, as for the key checks below.",
        "",
        "| in-process key check | µs per call (median of slices) | best slice |",
        "|---|--:|--:|",
    ]
    checks = {
        "is_valid": "`APIKey.objects.is_valid(key)`, verdict remembered (SQLite, no change since)",
        "is_valid_query": "`APIKey.objects.is_valid(key)` with nothing remembered: one query",
        "refusal_check": "the refused-keys limit's check on an accepted request",
        "authenticate": "`APIKeyAuthentication().authenticate(request)`, a fresh request each",
        "fresh_request": "of which: making the fresh DRF `Request`",
        "package_is_valid": "djangorestframework-api-key `APIKey.objects.is_valid(key)`",
    }
    for name, label in checks.items():
        lines.append(f"| {label} | {micro[name]['median_us']} | {micro[name]['min_us']} |")
    lines += [
        "",
        f"A key check: {micro['check']['queries']} query; `EXPLAIN QUERY PLAN`: "
        f"`{'; '.join(micro['check']['plan'])}`",
        "",
        "| ratio of req/s | median of the rounds' ratios | their quartiles | ratio of medians "
        "| from server CPU |",
        "|---|--:|--:|--:|--:|",
    ]
    for name, figures in results["ratios"].items():
        low, high = figures["quartiles"]
        lines.append(
            f"| {name} | {figures['value']:.3f} | {low:.2f}–{high:.2f} "
            f"| {figures['of_medians']:.3f} | {figures['cpu_value'] or ''} |"
        )
    lines += ["", "| target | value | met | cross-check |", "|---|--:|---|---|"]
    for target in results["targets"]:
        met = "yes" if target["met"] else "NO"
        lines.append(
            f"| {target['target']} | {target['value']} | {met} | {target['cross_check']} |"
        )
    suite = results["generated_suite"]
    suite_text = "not run"
    if suite:
        suite_text = f"{suite['seconds']:.1f} s, {suite['summary']}"
    lines += [
        "",
        f"Bake of the default project (hooks included): {results['bake_seconds']:.1f} s. "
        f"Generated suite (`python -m pytest -q`): {suite_text}.",
    ]
    return "\n".join(lines) + "\n"


def draw_chart(results: dict[str, Any], path: Path) -> None:
    """Two panels: req/s with p50 and p99, and server CPU per request; bars span the quartiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(results["cases"].values())[::-1]
    labels = [case["label"] for case in cases]
    colors = [
        "#888888"
        if "baseline" in label
        else "#c44e52"
        if label.startswith("djangorestframework")
        else "#3b75af"
        for label in labels
    ]
    with_cpu = all(case["median"]["cpu_us"] for case in cases)
    figure, axes = plt.subplots(
        1, 2 if with_cpu else 1, figsize=(12 if with_cpu else 9, 5.2), dpi=90, squeeze=False
    )
    panels = [("rps", "rps_quartiles", "requests per second")]
    if with_cpu:
        panels.append(("cpu_us", "cpu_us_quartiles", "server CPU µs per request (less is better)"))
    for axis, (name, spread, title) in zip(axes[0], panels, strict=False):
        middles = [case["median"][name] for case in cases]
        low = [case["median"][name] - case[spread][0] for case in cases]
        high = [case[spread][1] - case["median"][name] for case in cases]
        axis.barh(labels, middles, xerr=[low, high], color=colors, capsize=3)
        for index, case in enumerate(cases):
            middle = case["median"]
            text = f"{middle[name]:.0f}"
            if name == "rps":
                text += f"   p50 {middle['p50_ms']:.1f} ms, p99 {middle['p99_ms']:.1f} ms"
            axis.text(max(middles) * 0.02, index, text, va="center", color="white", fontsize=8)
        axis.set_xlabel(title, fontsize=9)
    if with_cpu:
        axes[0][1].set_yticklabels([])
    settings, machine = results["settings"], results["machine"]
    figure.suptitle(
        f"{results['date'][:10]}: {settings['rounds']} round(s) of {settings['seconds']} s "
        "per case; "
        f"gunicorn {WORKERS} workers, wrk {CONNECTIONS} connections, SQLite; {machine['nproc']} x "
        f"{machine['cpu_model']}, Python {machine['python']}, Django {machine['django']}\n"
        "median of the rounds; the error bars span their quartiles",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


# --- the run ------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s, 2,000 extra keys")
    parser.add_argument("--rounds", type=int, help="rounds per case (full: 30)")
    parser.add_argument("--seconds", type=int, help="measured seconds per case and round (1)")
    parser.add_argument("--keys", type=int, help="keys added for the many-keys cases (100,000)")
    parser.add_argument("--skip-suite", action="store_true", help="do not run the generated suite")
    parser.add_argument("--keep", action="store_true", help="keep the baked project afterwards")
    parser.add_argument("--output", type=Path, help="JSON path (the PNG goes beside it)")
    parser.add_argument(
        "--template",
        type=Path,
        default=TEMPLATE_DIR,
        help="template to bake (default: this repository), e.g. a copy with a change to try",
    )
    arguments = parser.parse_args()
    quick = arguments.quick
    arguments.rounds = arguments.rounds or (1 if quick else 30)
    arguments.seconds = arguments.seconds or 1
    arguments.warmup = 1
    arguments.keys = arguments.keys if arguments.keys is not None else (2000 if quick else 100_000)
    arguments.output = arguments.output or RESULTS_DIR / ("quick.json" if quick else "latest.json")
    return arguments


def benchmark(arguments: argparse.Namespace, workdir: Path, servers: dict[str, Server]) -> dict:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "mode": "quick" if arguments.quick else "full",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "template": str(arguments.template),
        "template_revision": template_revision(arguments.template),
        "machine": machine_facts(),
        "settings": {
            "rounds": arguments.rounds,
            "seconds": arguments.seconds,
            "warmup_seconds": arguments.warmup,
            "connections": CONNECTIONS,
            "wrk_threads": WRK_THREADS,
            "gunicorn_workers": WORKERS,
            "conn_max_age": 600,
            "many_keys": arguments.keys,
            "database": "SQLite",
            "settings_module": "config.settings.bench (production, plain HTTP, logs at WARNING)",
        },
    }
    print("Baking the default project ...", flush=True)
    project, results["bake_seconds"] = bake(arguments.template, workdir)
    print(f"  {results['bake_seconds']:.1f} s: {project.root}", flush=True)
    # The generated project's own dependencies, in case they grew past bench/requirements.txt.
    pip = [str(project.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "-r", str(project.root / "requirements-dev.txt")], timeout=600)
    results["generated_suite"] = None
    if not arguments.skip_suite:
        print("Running the generated suite ...", flush=True)
        results["generated_suite"] = run_generated_suite(project)
        print(f"  {results['generated_suite']['summary']}", flush=True)

    print(f"Preparing databases (1 key, and {arguments.keys:,} more) ...", flush=True)
    phase = time.perf_counter()
    one_key_db, many_keys_db = prepare(project, workdir, arguments.keys)
    results["prepare_seconds"] = round(time.perf_counter() - phase, 1)
    servers.update(
        one_key=Server("one_key", one_key_db),
        many_keys=Server("many_keys", many_keys_db),
    )
    for server in servers.values():
        server.start(project, workdir)
    for server in servers.values():
        server.wait_ready(workdir)
    cases = load_cases(f"{arguments.keys + 1:,}")
    print("Load, in this order each round: " + ", ".join(case.name for case in cases))
    for case in cases:
        case.probe = probe(servers[case.server], project, case)
    sizes = {case.probe["body_bytes"] for case in cases if case.status == 200}
    if len(sizes) > 1:
        print(f"  note: the 200 answers differ in size: {sorted(sizes)} bytes", flush=True)

    phase = time.perf_counter()
    for number in range(1, arguments.rounds + 1):
        print(f"  round {number:2} of {arguments.rounds}, req/s:", end="", flush=True)
        for case in cases:
            # The servers stay up between rounds, so only the first round needs a warm-up.
            warmup = arguments.warmup if number == 1 else 0
            measure_case(servers[case.server], project, case, arguments.seconds, warmup)
            print(f" {case.runs[-1]['rps']:.0f}", end="", flush=True)
        print()
    for server in servers.values():
        server.stop()
    results["load_seconds"] = round(time.perf_counter() - phase, 1)

    print("In-process measurements ...", flush=True)
    phase = time.perf_counter()
    micro_file = workdir / "micro.json"
    keys_file = workdir / "keys.json"
    keys_file.write_text(json.dumps(project.keys))
    extra = ["--quick"] if arguments.quick else []
    task = ["micro", str(keys_file), str(micro_file), *extra]
    project.tasks(many_keys_db, *task, log=workdir / "micro.log")
    results["micro"] = json.loads(micro_file.read_text())
    results["micro_seconds"] = round(time.perf_counter() - phase, 1)

    results["cases"] = {case.name: summarize(case) for case in cases}
    results["ratios"], results["targets"] = evaluate(results["cases"], results["micro"])
    results["machine"]["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    return results


def main() -> int:
    enter_venv(Path(__file__))
    arguments = parse_arguments()
    # Stopped from outside: still stop the servers and remove the baked project.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian or Ubuntu: sudo apt-get install -y wrk")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="api-key-bench-"))
    servers: dict[str, Server] = {}
    try:
        results = benchmark(arguments, workdir, servers)
    except BenchmarkBroken as error:
        print(f"\nThe benchmark is broken: {error}", file=sys.stderr)
        return 1
    finally:
        for server in servers.values():
            server.stop()
        if arguments.keep:
            print(f"Kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    report = report_markdown(results)
    arguments.output.with_suffix(".md").write_text(report)
    draw_chart(results, arguments.output.with_suffix(".png"))
    print()
    print(report)
    print(f"Wrote {arguments.output} and the .md and .png beside it.")
    print(f"Total: {results['total_seconds']:.0f} s")
    suite = results["generated_suite"]
    if suite and not suite["ok"]:
        print("The generated suite failed.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
