"""Load with key changes under way: 50 clients call /api/v1/whoami/ through gunicorn while an
operator revokes, rotates and creates keys with the management commands.

What must hold: no 5xx and no connection error; a revoked or rotated-away key is refused from
the moment its command returned (requests already in flight aside), whatever the database and
cache; keys that were used have `last_used_at`; gunicorn keeps the same workers (a deadlock
would get a worker killed by its timeout).

The served settings lift the throttles (429s would hide the rest) and write `last_used_at` at
most once a second instead of a minute, so writes race with revocations.
"""

import http.client
import itertools
import json
import random
import statistics
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from tests.baking import BakedProject, record_figures, skip_without_services
from tests.servers import (
    PROXY_HEADERS,
    SERVED_BAKES,
    CommandRunner,
    Server,
    api_keys_overrides,
    log_around_server_errors,
    served_project,
)

CLIENTS = 50
SECONDS = 20.0
MAX_REQUESTS = 100_000  # stops the run early on a machine fast enough to reach it
KEYS_AT_START = 20
FEWEST_ACTIVE_KEYS = 10
OPERATION_PAUSE = 0.2  # seconds between two key changes
PROBE_SHARE = 0.25  # requests sent with one of the keys stopped last
PROBED_STOPPED_KEYS = 5
PATH = "/api/v1/whoami/"

# Every test here runs once per served bake, on that bake's one load run.
pytestmark = pytest.mark.parametrize("baked", SERVED_BAKES, indirect=True, ids=lambda b: b.id)


@dataclass
class Key:
    key: str
    # time.monotonic() when revokeapikey or rotateapikey was run, and when it returned.
    asked: float | None = None
    stopped: float | None = None
    how: str = ""  # "revoked" or "rotated"

    @property
    def lookup_id(self) -> str:
        return self.key.split("_")[1]  # <brand>_<lookup id>_<secret><checksum>


@dataclass(frozen=True)
class Call:
    lookup_id: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer
    error: str = ""


class KeyPool:
    """The keys clients send: usable ones, and the last few revoked or rotated away."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.active: list[Key] = []
        self.stopped: list[Key] = []
        self.by_lookup_id: dict[str, Key] = {}

    def add(self, key: str) -> None:
        with self._lock:
            self.active.append(Key(key))
            self.by_lookup_id[self.active[-1].lookup_id] = self.active[-1]

    def stop(self, key: Key, how: str, asked: float) -> None:
        with self._lock:
            key.asked, key.stopped, key.how = asked, time.monotonic(), how
            self.active.remove(key)
            self.stopped.append(key)

    def pick(self, rng: random.Random) -> Key:
        with self._lock:
            if self.stopped and rng.random() < PROBE_SHARE:
                return rng.choice(self.stopped[-PROBED_STOPPED_KEYS:])
            return rng.choice(self.active)

    def pick_active(self, rng: random.Random) -> Key:
        with self._lock:
            return rng.choice(self.active)


@dataclass
class LoadRun:
    """What happened during one run."""

    bake_id: str
    window: float  # seconds a stopped key may still be accepted
    calls: list[Call]
    pool: KeyPool
    operations: Counter[str]
    seconds: float
    workers_before: set[int]
    workers_after: set[int]
    last_used: dict[str, str | None]
    log: str

    def late_acceptances(self) -> list[tuple[Call, float]]:
        """(call, seconds after its key stopped) for keys accepted after they were stopped."""
        late = []
        for call in self.calls:
            stopped = self.pool.by_lookup_id[call.lookup_id].stopped
            if call.status == 200 and stopped is not None and call.started >= stopped:
                late.append((call, call.started - stopped))
        return late


def send_requests(
    port: int, pool: KeyPool, deadline: float, budget: Iterator[int], seed: int
) -> list[Call]:
    """One client: keep-alive requests until the deadline or the shared request budget ends."""
    rng = random.Random(seed)
    calls = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        while time.monotonic() < deadline and next(budget) < MAX_REQUESTS:
            key = pool.pick(rng)
            headers = {**PROXY_HEADERS, "Authorization": f"Api-Key {key.key}"}
            started = time.monotonic()
            try:
                connection.request("GET", PATH, headers=headers)
                response = connection.getresponse()
                response.read()
                status, error = response.status, ""
            except (OSError, http.client.HTTPException) as exception:
                connection.close()
                status, error = 0, f"{type(exception).__name__}: {exception}"
            calls.append(Call(key.lookup_id, started, time.monotonic(), status, error))
    finally:
        connection.close()
    return calls


def change_keys(
    commands: CommandRunner, pool: KeyPool, deadline: float, operations: Counter[str]
) -> None:
    """Revoke, rotate (no grace) and create keys in turn, as an operator would, until the
    deadline."""
    rng = random.Random(0)
    for turn in itertools.cycle(["revoke", "rotate", "create"]):
        if time.monotonic() >= deadline:
            return
        if turn == "create" or len(pool.active) <= FEWEST_ACTIVE_KEYS:
            pool.add(commands.run("createapikey", "--name", "load client").strip())
            operations["creations"] += 1
        elif turn == "revoke":
            key, asked = pool.pick_active(rng), time.monotonic()
            commands.run("revokeapikey", key.lookup_id)
            pool.stop(key, "revoked", asked)
            operations["revocations"] += 1
        else:
            key, asked = pool.pick_active(rng), time.monotonic()
            new_key = commands.run("rotateapikey", key.lookup_id, "--grace", "0m").strip()
            pool.stop(key, "rotated", asked)
            pool.add(new_key)
            operations["rotations"] += 1
        time.sleep(OPERATION_PAUSE)


def run_load(server: Server, bake_id: str, window: float) -> LoadRun:
    port = int(server.base_url.rsplit(":", 1)[1])
    pool = KeyPool()
    operations: Counter[str] = Counter()
    with server.commands() as commands:
        for _ in range(KEYS_AT_START):
            pool.add(commands.run("createapikey", "--name", "load client").strip())
        workers_before = server.worker_pids()
        budget = itertools.count()
        started = time.monotonic()
        deadline = started + SECONDS
        with ThreadPoolExecutor(max_workers=CLIENTS + 1) as executor:
            operator = executor.submit(change_keys, commands, pool, deadline, operations)
            clients = [
                executor.submit(send_requests, port, pool, deadline, budget, seed)
                for seed in range(CLIENTS)
            ]
            calls = [call for client in clients for call in client.result(timeout=SECONDS + 60)]
            operator.result(timeout=60)
        seconds = time.monotonic() - started
        workers_after = server.worker_pids()
        listed = json.loads(commands.run("listapikeys", "--json"))
    return LoadRun(
        bake_id=bake_id,
        window=window,
        calls=calls,
        pool=pool,
        operations=operations,
        seconds=seconds,
        workers_before=workers_before,
        workers_after=workers_after,
        last_used={row["lookup_id"]: row["last_used"] for row in listed},
        log=server.log(),
    )


@pytest.fixture(scope="module")
def load_run(
    baked: BakedProject, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> LoadRun:
    """One run per bake; its figures go to the end-of-run summary."""
    skip_without_services(baked)
    # Stopped keys are sent on purpose, thousands of them from 127.0.0.1: no limit on refusals.
    overrides = {"THROTTLE_RATE": None, "REFUSAL_RATE": None, "LAST_USED_INTERVAL": 1}
    window = 0.0  # refused once the command has returned
    work_dir = tmp_path_factory.mktemp(f"load-{baked.bake.id}")
    settings = api_keys_overrides(**overrides)
    with served_project(baked, work_dir, settings=settings) as server:
        run = run_load(server, baked.bake.id, window)
    record_figures(request.config, f"load with key changes [{baked.bake.id}]", figures(run))
    return run


def figures(run: LoadRun) -> list[str]:
    statuses = Counter(call.status for call in run.calls)
    latencies = sorted(call.ended - call.started for call in run.calls)
    late = run.late_acceptances()
    in_flight = [
        call
        for call in run.calls
        if call.status == 200
        and (stopped := run.pool.by_lookup_id[call.lookup_id].stopped) is not None
        and call.started < stopped < call.ended
    ]
    return [
        f"{run.bake_id}: {len(run.calls)} requests from {CLIENTS} clients in {run.seconds:.1f} s "
        f"({len(run.calls) / run.seconds:.0f}/s); statuses "
        + ", ".join(
            f"{status or 'no answer'}: {count}" for status, count in sorted(statuses.items())
        ),
        f"latency median {statistics.median(latencies) * 1000:.1f} ms, "
        f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms",
        f"key changes: {run.operations['revocations']} revocations, "
        f"{run.operations['rotations']} rotations (grace 0m), "
        f"{run.operations['creations']} creations",
        f"stopped keys accepted after their command returned: {len(late)} requests, "
        f"max staleness {max((s for _, s in late), default=0.0):.3f} s "
        f"(allowed window {run.window:g} s); accepted while in flight: {len(in_flight)}",
        f"gunicorn workers before {sorted(run.workers_before)}, after {sorted(run.workers_after)}",
    ]


def test_no_server_error_and_no_connection_error(load_run: LoadRun) -> None:
    errors = [call for call in load_run.calls if call.status == 0 or call.status >= 500]
    around = log_around_server_errors(load_run.log)
    assert load_run.calls
    assert not errors, f"{len(errors)} failed requests, e.g. {errors[:5]}; server log:\n{around}"
    assert "Traceback" not in load_run.log, around


def test_answers_are_200_or_401_only(load_run: LoadRun) -> None:
    """The throttle is lifted for the run, so no 429 either."""
    statuses = Counter(call.status for call in load_run.calls)
    assert set(statuses) <= {200, 401}, statuses
    assert statuses[200] > 0 and statuses[401] > 0, statuses


def test_usable_keys_are_never_refused(load_run: LoadRun) -> None:
    """A 401 only for a key whose revocation or rotation had begun when the call ended."""
    wrongly_refused = [
        call
        for call in load_run.calls
        if call.status == 401
        and (
            (asked := load_run.pool.by_lookup_id[call.lookup_id].asked) is None
            or asked > call.ended
        )
    ]
    assert not wrongly_refused, wrongly_refused[:5]


def test_stopped_keys_are_refused_after_the_documented_window(load_run: LoadRun) -> None:
    late = [(call, s) for call, s in load_run.late_acceptances() if s >= load_run.window]
    assert not late, (
        f"{len(late)} requests were accepted with a revoked or rotated-away key more than "
        f"{load_run.window} s after the command returned: "
        + ", ".join(
            f"{call.lookup_id} ({load_run.pool.by_lookup_id[call.lookup_id].how}) {s:.3f} s"
            for call, s in late[:10]
        )
    )
    assert load_run.operations["revocations"] and load_run.operations["rotations"]


def test_used_keys_have_last_used_at(load_run: LoadRun) -> None:
    used = {call.lookup_id for call in load_run.calls if call.status == 200}
    never_marked = sorted(lookup_id for lookup_id in used if not load_run.last_used[lookup_id])
    assert used
    assert not never_marked, f"Keys used without last_used_at: {never_marked}"


def test_gunicorn_keeps_the_same_workers(load_run: LoadRun) -> None:
    assert len(load_run.workers_before) == 2
    assert load_run.workers_after == load_run.workers_before
    assert "WORKER TIMEOUT" not in load_run.log
