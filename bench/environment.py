"""The benchmark's own environment: its venv, running commands, and facts about the machine."""

import hashlib
import os
import platform
import shutil
import socket
import subprocess
import sys
import venv
from importlib.metadata import version
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = BENCH_DIR.parent
# One per Python version, so that runs under several Pythons do not rebuild each other's.
VENV_DIR = BENCH_DIR / f".venv-py{sys.version_info.major}{sys.version_info.minor}"
REQUIREMENTS = BENCH_DIR / "requirements.txt"
RESULTS_DIR = BENCH_DIR / "results"


class BenchmarkBroken(Exception):
    """Something the benchmark needs did not work; its numbers would mean nothing."""


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


def run(
    command: list[str],
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 600,
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


def machine_facts() -> dict[str, Any]:
    cpu_model = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_model": cpu_model,
        "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        "python": platform.python_version(),
        "django": version("Django"),
        "djangorestframework": version("djangorestframework"),
        "djangorestframework_api_key": version("djangorestframework-api-key"),
        "gunicorn": version("gunicorn"),
        "psycopg": version("psycopg"),
        "redis_py": version("redis"),
        "wrk": wrk_version.split(" Copyright")[0].strip() or "unknown",
    }


def template_revision(template: Path) -> str:
    """The commit baked, with "-dirty" when the template (bench/ aside) has changes."""

    def git(*args: str) -> str:
        command = ["git", "-C", str(template), *args]
        return subprocess.run(command, capture_output=True, text=True).stdout.strip()

    if git("rev-parse", "--show-toplevel") != str(template.resolve()):
        return "unknown (not a git checkout; name it with --revision)"
    commit = git("rev-parse", "--short", "HEAD")
    changed = git("status", "--porcelain", "--", ".", ":(exclude)bench")
    return commit + ("-dirty" if changed else "")
