"""Database faults: while the database cannot be reached, the API answers 503 in its JSON error
shape (never a 500, never a 200 for a request that needs the database), and it recovers by
itself when the database is back.

PostgreSQL: gunicorn reaches the server through a TCP proxy in this test, which cuts every
connection and refuses new ones, then lets them through again. SQLite: the folder holding the
database file is renamed away and back; since an open SQLite connection keeps using its file
wherever it moves, the server runs with DJANGO_CONN_MAX_AGE=0 so each request opens the file.
Every keyed request reads its key from the database.
"""

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import pytest

from tests.baking import BakedProject, record_figures, server_address, skip_without_services
from tests.servers import (
    SERVED_BAKES,
    SQLITE_FOLDER,
    Server,
    api_keys_overrides,
    fresh_database,
    gunicorn_server,
    log_around_server_errors,
    with_address,
)

FAULTS = 3
REQUESTS_PER_PHASE = 24  # each of: the live key, the revoked key, /healthz/
CONCURRENCY = 8
RECOVERY_SECONDS = 10
SETTINGS = api_keys_overrides(THROTTLE_RATE=None)
PATH = "/api/v1/whoami/"

pytestmark = pytest.mark.parametrize("baked", SERVED_BAKES, indirect=True, ids=lambda b: b.id)


class Fault(Protocol):
    def cut(self) -> None: ...
    def restore(self) -> None: ...


class TcpProxy:
    """127.0.0.1:<port> forwarded to `target`. `cut()` closes every forwarded connection and
    refuses new ones (accepted, then closed at once) until `restore()`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._open = True
        self._closing = False
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._lock:
                is_open = self._open
            try:
                if not is_open:
                    raise ConnectionRefusedError
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
            for source, destination in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, destination), daemon=True).start()

    def _pump(self, source: socket.socket, destination: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                destination.sendall(data)
        self._drop(source, destination)

    def _drop(self, *sockets: socket.socket) -> None:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv()
            sock.close()
            with self._lock:
                self._sockets.discard(sock)

    def cut(self) -> None:
        with self._lock:
            self._open = False
            connected = list(self._sockets)
        self._drop(*connected)

    def restore(self) -> None:
        with self._lock:
            self._open = True

    def close(self) -> None:
        self._closing = True
        self.cut()
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._acceptor.join(timeout=5)


@dataclass
class MovedFolder:
    """The SQLite database's folder, renamed away (`cut`) and back (`restore`)."""

    path: Path

    def cut(self) -> None:
        self.path.rename(self.path.with_name(f"{self.path.name}.away"))

    def restore(self) -> None:
        self.path.with_name(f"{self.path.name}.away").rename(self.path)


@dataclass
class Answer:
    what: str  # "live key", "revoked key" or "health"
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class FaultRun:
    bake_id: str
    phases: list[tuple[str, list[Answer]]] = field(default_factory=list)
    recovery_seconds: list[float] = field(default_factory=list)
    faults: int = 0
    log: str = ""

    def answers(self, phase_kind: str) -> list[Answer]:
        return [a for name, answers in self.phases if name.startswith(phase_kind) for a in answers]


def call_everything(server: Server, live_key: str, revoked_key: str) -> list[Answer]:
    """REQUESTS_PER_PHASE calls each with the live key, the revoked key and to /healthz/,
    CONCURRENCY at a time, so that every worker thread and its connection is reached."""
    calls = [("live key", PATH, live_key), ("revoked key", PATH, revoked_key)]
    calls.append(("health", "/healthz/", None))

    def call(what: str, path: str, key: str | None) -> Answer:
        status, headers, body = server.get(path, key=key)
        return Answer(what, status, dict(headers.items()), body)

    with ThreadPoolExecutor(max_workers=CONCURRENCY) as executor:
        futures = [executor.submit(call, *c) for c in calls * REQUESTS_PER_PHASE]
        return [future.result(timeout=60) for future in futures]


def wait_for_recovery(server: Server, live_key: str) -> float:
    """Seconds until a keyed request gets 200 again; fails after RECOVERY_SECONDS."""
    started = time.monotonic()
    while time.monotonic() - started < RECOVERY_SECONDS:
        if server.get(PATH, key=live_key)[0] == 200:
            return time.monotonic() - started
        time.sleep(0.1)
    pytest.fail(f"No 200 within {RECOVERY_SECONDS} s of the database's return:\n{server.log()}")


def run_faults(server: Server, fault: Fault, bake_id: str) -> FaultRun:
    live_key = server.create_key("fault client")  # manage.py createapikey, as an operator would
    with server.commands() as commands:
        revoked_key = commands.run("createapikey", "--name", "revoked client").strip()
        commands.run("revokeapikey", revoked_key.split("_")[1])
    run = FaultRun(bake_id)
    run.phases.append(("healthy", call_everything(server, live_key, revoked_key)))
    for number in range(1, FAULTS + 1):
        fault.cut()
        run.faults += 1
        try:
            run.phases.append((f"outage {number}", call_everything(server, live_key, revoked_key)))
        finally:
            fault.restore()
        run.recovery_seconds.append(wait_for_recovery(server, live_key))
        run.phases.append((f"recovered {number}", call_everything(server, live_key, revoked_key)))
    run.log = server.log()
    return run


@contextlib.contextmanager
def served_with_fault(project: BakedProject, work_dir: Path) -> Iterator[tuple[Server, Fault]]:
    with fresh_database(project, work_dir) as database_url:
        if project.bake.database == "postgresql":
            proxy = TcpProxy(server_address(database_url))
            try:
                proxied_url = with_address(database_url, "127.0.0.1", proxy.port)
                with gunicorn_server(project, work_dir, proxied_url, settings=SETTINGS) as server:
                    yield server, proxy
            finally:
                proxy.close()
        else:
            with gunicorn_server(
                project, work_dir, database_url, settings=SETTINGS, DJANGO_CONN_MAX_AGE="0"
            ) as server:
                yield server, MovedFolder(work_dir / SQLITE_FOLDER)


@pytest.fixture(scope="module")
def fault_run(
    baked: BakedProject, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> FaultRun:
    """One run per bake: healthy, then FAULTS times an outage and a recovery."""
    skip_without_services(baked)
    work_dir = tmp_path_factory.mktemp(f"faults-{baked.bake.id}")
    with served_with_fault(baked, work_dir) as (server, fault):
        run = run_faults(server, fault, baked.bake.id)
    record_figures(request.config, f"database faults [{baked.bake.id}]", figures(run))
    return run


def figures(run: FaultRun) -> list[str]:
    lines = [f"{run.bake_id}: {run.faults} outages injected"]
    for name, answers in run.phases:
        counts = Counter(f"{a.what} {a.status}" for a in answers)
        lines.append(f"{name}: {len(answers)} requests; " + ", ".join(sorted(counts_text(counts))))
    recoveries = ", ".join(f"{seconds:.2f} s" for seconds in run.recovery_seconds)
    lines.append(f"first 200 after the database returned: {recoveries}")
    return lines


def counts_text(counts: Counter[str]) -> list[str]:
    return [f"{what}: {count}" for what, count in counts.items()]


def test_outage_answers_503_in_the_json_error_shape(fault_run: FaultRun) -> None:
    keyed = [a for a in fault_run.answers("outage") if a.what != "health"]
    assert len(keyed) == FAULTS * REQUESTS_PER_PHASE * 2
    wrong = [(a.what, a.status, a.body[:300]) for a in keyed if a.status != 503]
    assert not wrong, wrong[:5]
    for answer in keyed:
        assert answer.headers["Content-Type"] == "application/json"
        assert answer.headers["Retry-After"] == "5"
        assert json.loads(answer.body)["error"]["code"] == "service_unavailable"


def test_health_check_answers_during_an_outage(fault_run: FaultRun) -> None:
    """/healthz/ says the process serves requests; it does not use the database."""
    health = [a.status for a in fault_run.answers("outage") if a.what == "health"]
    assert health == [200] * FAULTS * REQUESTS_PER_PHASE


def test_every_answer_after_recovery_is_the_healthy_one(fault_run: FaultRun) -> None:
    expected = {"live key": 200, "revoked key": 401, "health": 200}
    answers = fault_run.answers("healthy") + fault_run.answers("recovered")
    wrong = [(a.what, a.status, a.body[:300]) for a in answers if a.status != expected[a.what]]
    assert len(answers) == (FAULTS + 1) * REQUESTS_PER_PHASE * 3
    assert not wrong, wrong[:5]


def test_no_server_error_and_every_503_logs_its_cause(fault_run: FaultRun) -> None:
    """No 500 and no traceback in an answer; in the log, one traceback per 503: its cause."""
    statuses = [a.status for _, answers in fault_run.phases for a in answers]
    assert 500 not in statuses
    assert not any(b"Traceback" in a.body for _, answers in fault_run.phases for a in answers)
    around = log_around_server_errors(fault_run.log)
    log = fault_run.log
    causes = log.count(", answered 503\nTraceback (most recent call last):")
    assert causes == statuses.count(503) > 0, around
    # The database driver's error, which Django's is raised from, has a traceback of its own.
    chained = log.count("exception:\n\nTraceback (most recent call last):")
    assert log.count("Traceback") == causes + chained, around
    assert "Internal Server Error" not in log, around
