"""Serving a baked project with gunicorn on 127.0.0.1, and reading what its workers spent."""

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from baking import Project
from environment import BenchmarkBroken, free_port, run

WORKERS = 2


@dataclass
class Server:
    """gunicorn with WORKERS sync workers, serving `project` in one mode (baking.MODES)."""

    name: str
    project: Project
    mode: str  # one of baking.MODES, as config/settings/bench.py reads it
    logs: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.logs / f"gunicorn-{self.name}.log"

    def start(self) -> None:
        self.port = free_port()
        gunicorn = str(self.project.python.with_name("gunicorn"))
        command = [gunicorn, "config.wsgi:application", "--workers", str(WORKERS)]
        command += ["--bind", f"127.0.0.1:{self.port}", "--log-level", "warning"]
        # Recent gunicorn opens a control socket at one fixed path by default, which several
        # servers (ours, or anyone's on this machine) cannot share.
        if "--no-control-socket" in run([gunicorn, "--help"]).stdout:
            command.append("--no-control-socket")
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.project.root,
                env=self.project.env(self.mode),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                with urllib.request.urlopen(f"{self.url}/healthz/", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        log = self.log_path.read_text()[-2000:]
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

    def worker_cpu_ns(self) -> int | None:
        """CPU time the workers have used so far, in nanoseconds; None where Linux's
        /proc/<pid>/schedstat cannot tell. Time spent waiting for a core is not in it."""
        pid = self.process.pid
        try:
            workers = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            return sum(int(Path(f"/proc/{w}/schedstat").read_text().split()[0]) for w in workers)
        except (OSError, ValueError, IndexError):
            return None


def start_all(servers: list[Server]) -> None:
    """Start every server, then wait for each: they start side by side."""
    for server in servers:
        server.start()
    for server in servers:
        server.wait_ready()
