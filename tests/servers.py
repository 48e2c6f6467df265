"""A baked project served over HTTP, and a client for the tests that call it from outside."""

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.client import HTTPMessage
from pathlib import Path

import pytest

from tests.baking import BakedProject

# Requests go straight to the local server, whatever proxy the environment names.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, HTTPMessage, bytes]:
    """Status, headers and body of a GET; error statuses are returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with HTTP.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@contextlib.contextmanager
def runserver(project: BakedProject, log_path: Path) -> Iterator[str]:
    """The project under `manage.py runserver` (its .env, local settings) on a free port of
    127.0.0.1; yields the base URL once /healthz/ answers 200, and stops the server after."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=project.path,
            env=project.environment(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"runserver exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                if get(f"{base_url}/healthz/")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"/healthz/ did not answer 200 within {STARTUP_SECONDS} s:\n"
                    f"{log_path.read_text()}"
                )
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
