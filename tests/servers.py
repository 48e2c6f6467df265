"""A baked project served as in production: gunicorn, production settings, a fresh database.

    with served_project(project, tmp_path, collect_static=True) as server:
        key = server.create_key("load client")  # manage.py createapikey --name "load client"
        status, headers, body = server.get("/api/v1/whoami/", key=key)
        with server.commands() as commands:  # one Django process for many commands
            commands.run("revokeapikey", key.split("_")[1])
        with server.python() as python:  # one Django process for many snippets
            python.run("from django.db import connection; print(connection.vendor)")

`served_project` makes a fresh database (a temporary SQLite file, or a new PostgreSQL database
that is dropped afterwards) and runs `gunicorn_server` on it. `gunicorn_server` works on a
copy of the baked project (the session's bake is shared by other tests and stays untouched),
may add a settings module that overrides production settings, migrates, optionally collects
static files, starts gunicorn on 127.0.0.1 and waits for /healthz/; on exit it stops gunicorn
(SIGTERM, then SIGKILL) and keeps its log in the work folder. Requests carry
`X-Forwarded-Proto: https`, as a TLS-terminating proxy would set it; production settings
redirect plain HTTP otherwise. `api_keys_overrides(THROTTLE_RATE=None)` gives `settings`
code that changes API_KEYS entries; `Server.worker_pids()` lists gunicorn's workers.
"""

import contextlib
import functools
import http.client
import json
import re
import secrets
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from packaging.version import Version

from tests.baking import BAKES_BY_ID, DEFAULT, POSTGRES_URL, BakedProject, format_output

# The bakes that server tests run on: SQLite with a per-process cache, and PostgreSQL with Redis.
SERVED_BAKES = [DEFAULT, BAKES_BY_ID["postgresql-redis"]]
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
SETTINGS_MODULE = "config.settings.production"
# Written into every served copy: production settings, with a test's changes if any, and a key
# space of the copy's own in a shared Redis (tests that run at once on other xdist workers
# serve other copies of the same bake: their refused-key counts must not add up).
OVERRIDES_MODULE = "config.settings.served"
OWN_CACHE_KEYS = (
    "\nfrom .production import CACHES\n\nCACHES['default']['KEY_PREFIX'] = {prefix!r}\n"
)
OVERRIDES_HEADER = (
    '"""Production settings, changed for a template test."""\n\n'
    "from .production import *  # noqa: F403\n"
)
STARTUP_SECONDS = 30
SQLITE_FOLDER = "database"
# Requests go straight to the local server, whatever proxy the environment names.
HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Not part of a served copy: the bake's own database, secrets, static files and caches.
NOT_COPIED = shutil.ignore_patterns(
    "db.sqlite3*", ".env", "staticfiles", "__pycache__", ".pytest_cache", ".ruff_cache"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@functools.cache
def tls_files() -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, made once per test process, for
    servers that speak HTTPS themselves (gunicorn_server(tls=True))."""
    folder = Path(tempfile.mkdtemp(prefix="template-test-tls-"))
    certificate, key = folder / "certificate.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"]
        + ["-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return certificate, key


@functools.cache
def https_opener() -> urllib.request.OpenerDirector:
    """An opener for tls_files()'s servers, which trusts their certificate and no other."""
    trusted = ssl.create_default_context(cafile=str(tls_files()[0]))
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=trusted)
    )


def get(
    url: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Status, headers and body of a GET; error statuses are returned, not raised."""
    request = urllib.request.Request(url, headers=headers or {})
    opener = https_opener() if url.startswith("https:") else HTTP
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def with_address(url: str, host: str, port: int) -> str:
    """`url` pointing at host:port instead, user, password and path kept."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@{host}:{port}" if credentials else f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


# A usage log line of a 5xx answer ("GET /api/v1/whoami/ 503 3ms ..."), an error, a traceback.
SERVER_ERROR_LINE = re.compile(r" 5\d\d \d+ms |Traceback| ERROR ")


def log_around_server_errors(log: str, context: int = 15, most: int = 3) -> str:
    """The lines of a server's log around its first few 5xx answers, errors and tracebacks."""
    lines = log.splitlines()
    marked = [number for number, line in enumerate(lines) if SERVER_ERROR_LINE.search(line)]
    shown: list[str] = []
    for number in marked[:most]:
        shown += ["...", *lines[max(0, number - context) : number + context + 1]]
    return "\n".join(shown) or "(no 5xx answer, error or traceback in the server's log)"


def child_pids(pid: int) -> set[int]:
    """The processes whose parent is `pid` (Linux /proc)."""
    children = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        # "pid (command) state ppid ...": the command may hold spaces and parentheses.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            children.add(int(entry.name))
    return children


def api_keys_overrides(**entries: Any) -> str:
    """Settings code that changes some API_KEYS entries of production settings."""
    return f"from .production import API_KEYS\n\nAPI_KEYS = {{**API_KEYS, **{entries!r}}}\n"


@contextlib.contextmanager
def fresh_database(project: BakedProject, work_dir: Path) -> Iterator[str]:
    """DATABASE_URL of an empty database for `project`, removed afterwards.

    SQLite: db.sqlite3 in `work_dir`/SQLITE_FOLDER. PostgreSQL: a new database on the server of
    TEMPLATE_TEST_POSTGRES_URL, dropped (connections and all) on exit.
    """
    if project.bake.database != "postgresql":
        folder = work_dir / SQLITE_FOLDER
        folder.mkdir(parents=True)
        yield f"sqlite:///{folder / 'db.sqlite3'}"
        return
    import psycopg
    from psycopg import sql

    database = f"{project.slug}_{secrets.token_hex(4)}"  # lowercase letters, digits, _
    name = sql.Identifier(database)
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    try:
        yield f"{POSTGRES_URL}/{database}"
    finally:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))


@dataclass
class Server:
    """A served copy of a baked project, and how to call it and run its commands."""

    base_url: str
    path: Path
    environment: dict[str, str]
    process: subprocess.Popen[bytes]
    log_path: Path

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def get(
        self, path: str, key: str | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        """GET through the (pretended) TLS proxy, with `Authorization: Api-Key <key>` if given."""
        sent = {**PROXY_HEADERS, **(headers or {})}
        if key is not None:
            sent["Authorization"] = f"Api-Key {key}"
        return get(self.url(path), sent)

    def manage(self, *args: str) -> str:
        """The standard output of `python manage.py <args>` with the server's settings."""
        return manage(self.path, self.environment, *args)

    def create_key(self, name: str, *options: str) -> str:
        """A new key from `createapikey --name NAME [options]`, which prints the key alone."""
        return self.manage("createapikey", "--name", name, *options).strip()

    def worker_pids(self) -> set[int]:
        return child_pids(self.process.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @contextlib.contextmanager
    def commands(self) -> Iterator["CommandRunner"]:
        """One Django process beside the server that runs management commands on demand."""
        runner = CommandRunner(self.path, self.environment)
        try:
            yield runner
        finally:
            runner.close()

    @contextlib.contextmanager
    def python(self, setup: str = "") -> Iterator["PythonRunner"]:
        """One Django process beside the server that runs Python snippets on demand; `setup`
        runs first (imports, say)."""
        runner = PythonRunner(self.path, self.environment)
        try:
            if setup:
                runner.run(setup)
            yield runner
        finally:
            runner.close()


# Reads one JSON list of command arguments per line; answers one JSON object per line.
COMMAND_LOOP = """
import io, json, sys
import django
django.setup()
from django.core.management import call_command
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*json.loads(line), stdout=out, stderr=err)
        ok = True
    except BaseException as error:
        ok = False
        err.write(f"{type(error).__name__}: {error}")
    print(json.dumps({"ok": ok, "stdout": out.getvalue(), "stderr": err.getvalue()}), flush=True)
"""


# Reads one JSON string of Python code per line and runs it in one namespace that lasts, with
# its output captured; answers one JSON object per line.
PYTHON_LOOP = """
import contextlib, io, json, sys, traceback
import django
django.setup()
namespace = {"__name__": "snippets"}
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(json.loads(line), namespace)
        ok, error = True, ""
    except BaseException:
        ok, error = False, traceback.format_exc()
    print(json.dumps({"ok": ok, "stdout": out.getvalue(), "stderr": error}), flush=True)
"""


class LoopProcess:
    """A long-lived Django process that answers one JSON line per JSON line sent: management
    commands (CommandRunner) or Python snippets (PythonRunner), without paying Django's
    start-up for each. Not thread-safe."""

    loop: str

    def __init__(self, path: Path, environment: dict[str, str], timeout: float = 60) -> None:
        self.timeout = timeout
        self.process = subprocess.Popen(
            [sys.executable, "-c", self.loop],
            cwd=path,
            env=environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._read_answer()

    def _ask(self, request: Any, what: str) -> dict[str, Any]:
        """Send one request; fail the test unless it ran without an exception."""
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self._read_answer()
        if not answer["ok"]:
            pytest.fail(f"{what} failed: {answer['stderr']}", pytrace=False)
        return answer

    def _read_answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        line = self.process.stdout.readline() if ready else ""
        if not line:
            pytest.fail(f"The Django process gave no answer within {self.timeout} s.")
        return json.loads(line)

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class CommandRunner(LoopProcess):
    """Runs management commands one by one, as an operator's shell would."""

    loop = COMMAND_LOOP

    def run(self, *args: str) -> str:
        """The command's standard output; fails the test if it raised."""
        return self._ask(args, f"manage.py {' '.join(args)}")["stdout"]


class PythonRunner(LoopProcess):
    """Runs Python snippets one by one in one namespace, as a Django shell would."""

    loop = PYTHON_LOOP

    def run(self, code: str) -> str:
        """What the snippet printed; fails the test if it raised."""
        return self._ask(code, f"The snippet\n{code}\n")["stdout"]


def manage(path: Path, environment: dict[str, str], *args: str) -> str:
    """The standard output of `python manage.py <args>`; fails the test unless it exits 0."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{format_output(result)}{result.stderr}", pytrace=False)
    return result.stdout


def copy_project(project: BakedProject, destination: Path) -> Path:
    return Path(shutil.copytree(project.path, destination / project.slug, ignore=NOT_COPIED))


def stop(process: subprocess.Popen[bytes], grace: float = 15) -> None:
    """SIGTERM (gunicorn's graceful stop), then SIGKILL if it is still running after `grace`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def gunicorn_server(
    project: BakedProject,
    work_dir: Path,
    database_url: str,
    *,
    settings: str = "",
    workers: int = 2,
    threads: int = 4,
    collect_static: bool = False,
    migrate: bool = True,
    tls: bool = False,
    **variables: str | None,
) -> Iterator[Server]:
    """Serve a copy of `project` with gunicorn and production settings on 127.0.0.1.

    `settings`: Python code appended to a module that imports production settings (see
    `api_keys_overrides`), for tests that change a setting. `collect_static`: run collectstatic
    into the copy's STATIC_ROOT first (the admin's pages need it; the API does not).
    `migrate=False`: the database is migrated already. `tls=True`: gunicorn speaks HTTPS
    itself, with tls_files()'s certificate (for a browser, whose Origin must be the https one
    the app sees). `variables`: more environment variables
    for every process, or changes to the ones set here; None leaves a variable unset (e.g.
    DJANGO_SECURE_PROXY_SSL_HEADER=None: no trusted proxy).
    """
    path = copy_project(project, work_dir)
    if project.bake.cache == "redis":
        settings += OWN_CACHE_KEYS.format(prefix=f"served-{secrets.token_hex(4)}")
    settings_module = SETTINGS_MODULE
    if settings:
        settings_module = OVERRIDES_MODULE
        (path / "config" / "settings" / "served.py").write_text(OVERRIDES_HEADER + settings)
    port = free_port()
    chosen = {
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_PROXY_SSL_HEADER": "true",
        "DATABASE_URL": database_url,
        **variables,
    }
    environment = project.environment(
        **{name: value for name, value in chosen.items() if value is not None}
    )
    if migrate:
        manage(path, environment, "migrate", "--noinput")
    if collect_static:
        manage(path, environment, "collectstatic", "--noinput")
    else:  # an empty STATIC_ROOT, so that WhiteNoise does not warn about a missing one
        (path / "staticfiles").mkdir(exist_ok=True)

    log_path = work_dir / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--threads", str(threads)]
    if Version(version("gunicorn")) >= Version("25.1"):
        command.append("--no-control-socket")  # its default path is shared by every gunicorn
    if tls:
        certificate, key = tls_files()
        command += ["--certfile", str(certificate), "--keyfile", str(key)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=path, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    scheme = "https" if tls else "http"
    server = Server(f"{scheme}://127.0.0.1:{port}", path, environment, process, log_path)
    try:
        wait_until_serving(
            process,
            lambda: server.get("/healthz/")[0] == 200 and len(server.worker_pids()) == workers,
            log_path,
        )
        yield server
    finally:
        stop(server.process)


def wait_until_serving(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], log_path: Path
) -> None:
    """Until `ready()` (e.g. /healthz/ answers 200), for STARTUP_SECONDS at most."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            log = log_path.read_text()
            pytest.fail(f"The server exited with {process.returncode}:\n{log}")
        with contextlib.suppress(OSError):
            if ready():
                return
        if time.monotonic() > deadline:
            log = log_path.read_text()
            pytest.fail(f"The server was not ready within {STARTUP_SECONDS} s:\n{log}")
        time.sleep(0.2)


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
        wait_until_serving(process, lambda: get(f"{base_url}/healthz/")[0] == 200, log_path)
        yield base_url
    finally:
        stop(process)


@contextlib.contextmanager
def served_project(project: BakedProject, work_dir: Path, **options: Any) -> Iterator[Server]:
    """`gunicorn_server` on a `fresh_database`; the options are gunicorn_server's."""
    with (
        fresh_database(project, work_dir) as database_url,
        gunicorn_server(project, work_dir, database_url, **options) as server,
    ):
        yield server
