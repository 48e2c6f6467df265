"""Baking a project for the benchmark, adding the benchmark's files to it, and making its keys."""

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from environment import BENCH_DIR, BenchmarkBroken, run
from services import Services

OVERLAY_DIR = BENCH_DIR / "overlay"
# Variables of the caller's shell that would change what a baked project does (libpq's PG*
# would point the hook or the server at another PostgreSQL).
SCRUBBED_PREFIXES = ("DJANGO_", "DATABASE_URL", "REDIS_URL", "PG", "BENCH_")
# What the key app counts on each request, as config/settings/bench.py sets it from BENCH_MODE,
# and how the reports name each mode:
# - lifted: no throttle, no refused-keys limit, no quota, no usage counting;
# - shipped: the throttle and the refused-keys limit as shipped, usage counting on (as
#   shipped), and a quota of 1,000,000,000 requests a month;
# - no-usage: the same as shipped, with usage counting off.
MODES = {
    "lifted": "limits lifted, no usage counting",
    "shipped": "as shipped, with a quota",
    "no-usage": "as shipped, with a quota, no usage counting",
}
KEY_TABLE = "api_keys_apikey"  # the key app's label is api_keys, its model APIKey
# The key app's hash of usage tallies in Redis (rates.TALLIES), under Django's cache key prefix
# and version: "<prefix>:<version>:api_keys:usage".
USAGE_TALLIES_PATTERN = "*:api_keys:usage"


@dataclass(frozen=True)
class Shape:
    """One way to answer the template's database and cache questions."""

    name: str
    label: str
    extra_context: dict[str, str]

    @property
    def uses_services(self) -> bool:
        return self.extra_context.get("database") == "postgresql"


PRODUCTION = Shape("postgresql", "PostgreSQL + Redis", {"database": "postgresql", "cache": "redis"})
DEFAULT = Shape("sqlite", "SQLite + local memory", {})
SHAPES = {"production": [PRODUCTION], "sqlite": [DEFAULT], "all": [PRODUCTION, DEFAULT]}


def clean_environment() -> dict[str, str]:
    return {
        name: value for name, value in os.environ.items() if not name.startswith(SCRUBBED_PREFIXES)
    }


@dataclass
class Project:
    shape: Shape
    root: Path
    python: Path
    first_key: str
    database_url: str
    redis_url: str | None = None
    # Keys presented one at a time: valid (the hook's first key), bad_checksum, unknown,
    # revoked, package (the package's key).
    keys: dict[str, str] = field(default_factory=dict)
    # Files of keys presented in turn, one a line: "project" and "package".
    key_files: dict[str, Path] = field(default_factory=dict)
    # Requests counted in usage tallies that drop_usage_tallies took out of Redis.
    usage_dropped: int = 0

    def as_under_steady_load(self) -> None:
        """Before a measured second of ours: leave last_used_at and the usage tallies as a
        server under steady load would (see README, How)."""
        self.spread_last_used()
        self.drop_usage_tallies()

    def env(self, mode: str = "lifted") -> dict[str, str]:
        """The environment of every process that runs the baked project for the benchmark;
        `mode` (one of MODES) is read by config/settings/bench.py."""
        values = clean_environment()
        values.update(
            DJANGO_SETTINGS_MODULE="config.settings.bench",
            DJANGO_SECRET_KEY="benchmark-only-" + "x" * 50,
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            DJANGO_CONN_MAX_AGE="600",
            DJANGO_LOG_LEVEL="WARNING",
            DATABASE_URL=self.database_url,
            BENCH_MODE=mode,
        )
        if self.redis_url:
            values["REDIS_URL"] = self.redis_url
        return values

    def spread_last_used(self) -> None:
        """Set each key's last_used_at to a random moment of the past minute, as a server under
        steady load leaves them: about 1/60 of the keys then fall due each second, so the share
        of requests that write last_used_at is what it would be under that load in production
        (see README). One UPDATE, made before a case is measured."""
        if self.database_url.startswith("sqlite:"):
            import sqlite3

            ago = "(-(abs(random()) % 60000) / 1000.0) || ' seconds'"
            moment = f"strftime('%Y-%m-%d %H:%M:%f', 'now', {ago})"  # as Django stores them
            path = self.database_url.removeprefix("sqlite:///")
            with contextlib.closing(sqlite3.connect(path, timeout=30)) as db, db:
                db.execute(f"UPDATE {KEY_TABLE} SET last_used_at = {moment}")
            return
        import psycopg

        moment = "now() - random() * interval '60 seconds'"
        with psycopg.connect(self.database_url, autocommit=True) as db:
            db.execute(f"UPDATE {KEY_TABLE} SET last_used_at = {moment}")

    def drop_usage_tallies(self) -> None:
        """Empty the key app's hash of usage tallies in Redis, adding what it held to
        `usage_dropped`.

        Under steady load, a move of tallies to the database (usage.py: by the first request a
        minute) carries a minute of requests, one row per key: once a minute, about 0.15 s for
        1,000 keys on this machine. Here ours is loaded for one second a round, so each move
        would fall in a measured second and carry every tally since the last: some 20 times
        production's share per request at 800 requests a second. With the hash emptied just
        before, the move carries what that second has counted so far, a few rows. With the
        local-memory cache the tallies are in the workers' memory, out of reach: there each
        worker moves its own."""
        if not self.redis_url:
            return
        import redis

        client = redis.Redis.from_url(self.redis_url)
        for name in client.scan_iter(match=USAGE_TALLIES_PATTERN, count=10_000):
            pipeline = client.pipeline()  # a transaction: nothing counted between the two
            amounts, _ = pipeline.hvals(name).delete(name).execute()
            self.usage_dropped += sum(int(amount) for amount in amounts)

    def tasks(self, *args: str, log: Path | None = None, mode: str = "lifted") -> str:
        """Run bench_tasks.py with the settings of `mode`; its output goes to `log` when given,
        else it is returned."""
        command = [str(self.python), "bench_tasks.py", *args]
        env = self.env(mode)
        if log is None:
            return run(command, cwd=self.root, env=env, timeout=900).stdout
        with log.open("w") as output:
            done = subprocess.run(
                command, cwd=self.root, env=env, stdout=output, stderr=output, timeout=900
            )
        if done.returncode != 0:
            tail = "\n".join(log.read_text().splitlines()[-25:])
            raise BenchmarkBroken(f"bench_tasks.py {args[0]} exited {done.returncode}:\n{tail}")
        return ""


def bake(
    template: Path, workdir: Path, shape: Shape, services: Services | None
) -> tuple[Project, float]:
    """The project baked with --no-input and the shape's answers, hooks included (the hook
    migrates and makes the first key, in the PostgreSQL database when there is one), and the
    seconds it took."""
    config = workdir / "cookiecutter.yaml"
    config.write_text(
        f"cookiecutters_dir: {workdir / 'cookiecutters'}\nreplay_dir: {workdir / 'replay'}\n"
    )
    output = workdir / "baked"
    command = [str(Path(sys.executable).with_name("cookiecutter")), "--no-input"]
    command += ["--config-file", str(config), "--output-dir", str(output), str(template)]
    command += [f"{name}={value}" for name, value in shape.extra_context.items()]
    env = clean_environment()
    if services is not None:
        env.update(DATABASE_URL=services.database_url, REDIS_URL=services.redis_url)
    started = time.perf_counter()
    done = run(command, cwd=workdir, env=env, timeout=300)
    seconds = time.perf_counter() - started
    (root,) = output.iterdir()
    found = re.search(r"^First API key: (\S+)$", done.stdout, re.MULTILINE)
    if not found:
        raise BenchmarkBroken(f"the post-generation hook printed no first key:\n{done.stdout}")
    project = Project(
        shape=shape,
        root=root,
        python=Path(sys.executable),
        first_key=found[1],
        database_url=(services.database_url if services else f"sqlite:///{root / 'db.sqlite3'}"),
        redis_url=services.redis_url if services else None,
    )
    # The generated project's own dependencies, in case they grew past bench/requirements.txt.
    pip = [str(project.python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "-r", str(root / "requirements-dev.txt")], timeout=600)
    return project, seconds


def run_generated_suite(project: Project) -> dict[str, Any]:
    """`python -m pytest -q` in the baked project, timed, before the benchmark changes it."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(project.python), "-m", "pytest", "-q"],
        cwd=project.root,
        env=clean_environment(),
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


def prepare(project: Project, workdir: Path, count: int) -> None:
    """Copy the benchmark's files in, migrate (the package's tables), and make the keys: the
    single ones of the rejected cases, and `count` of the project's and of the package's."""
    shutil.copytree(OVERLAY_DIR, project.root, dirs_exist_ok=True)
    (project.root / "staticfiles").mkdir(exist_ok=True)  # no collectstatic: the API needs none
    run(
        [str(project.python), "manage.py", "migrate", "--verbosity", "0"],
        cwd=project.root,
        env=project.env(),
    )
    folder = workdir / "keys"
    folder.mkdir()
    print("  " + project.tasks("keys", str(folder), str(count)).strip(), flush=True)
    project.keys = json.loads((folder / "keys.json").read_text())
    valid = project.first_key
    project.keys.update(valid=valid, bad_checksum=valid[:-1] + ("A" if valid[-1] != "A" else "B"))
    project.key_files = {kind: folder / f"{kind}-keys.txt" for kind in ("project", "package")}
