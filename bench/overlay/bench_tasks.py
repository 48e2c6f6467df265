"""The benchmark's work inside a baked project: its keys, and the in-process measurements.

bench/run.py copies this file beside manage.py and runs it with config.settings.bench:
    python bench_tasks.py keys FOLDER COUNT   COUNT keys of the project and COUNT of the package
                                              (FOLDER/project-keys.txt, package-keys.txt, one a
                                              line), and the single keys of the rejected cases
                                              (FOLDER/keys.json: package, revoked, unknown)
    python bench_tasks.py micro FOLDER OUT.json [--quick]
                                              key-check timings, query counts, query plan
    python bench_tasks.py api-keys            the API_KEYS setting, as JSON (BENCH_MODE's)
"""

import importlib
import json
import os
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework_api_key.models import APIKey as PackageAPIKey  # noqa: E402

KEY_APP = next(app for app in settings.INSTALLED_APPS if app.endswith(".api_keys"))
APIKey = importlib.import_module(f"{KEY_APP}.models").APIKey
KeyUsage = getattr(importlib.import_module(f"{KEY_APP}.models"), "KeyUsage", None)  # or older
APIKeyAuthentication = importlib.import_module(f"{KEY_APP}.authentication").APIKeyAuthentication
SLICE_SECONDS = 0.05


def make_keys(folder: Path, count: int) -> None:
    """`count` real keys of the project and of the package, made by their own `create_key`,
    and the keys the rejected cases present."""
    started = time.perf_counter()
    with transaction.atomic():  # one commit, not one per key
        # Names as long as "first key", which the open and package views show.
        ours = [APIKey.objects.create_key(name=f"key {n:05}")[1] for n in range(count)]
        package = [PackageAPIKey.objects.create_key(name=f"key {n:05}")[1] for n in range(count)]
        revoked, revoked_key = APIKey.objects.create_key(name="revoked")
        revoked.revoke()
        # Well formed, with a valid checksum, and in no row any more.
        deleted, unknown_key = APIKey.objects.create_key(name="deleted")
        deleted.delete()
    (folder / "project-keys.txt").write_text("\n".join(ours) + "\n")
    (folder / "package-keys.txt").write_text("\n".join(package) + "\n")
    single = {"package": package[0], "revoked": revoked_key, "unknown": unknown_key}
    (folder / "keys.json").write_text(json.dumps(single))
    seconds = time.perf_counter() - started
    print(f"{count} keys of the project and {count} of the package made in {seconds:.1f} s")


@dataclass
class Timed:
    """One thing to time, and its samples in microseconds per call."""

    function: Callable[[], Any]
    calls: int = 1
    samples: list[float] = field(default_factory=list)

    def run_slice(self) -> None:
        seconds = timeit.timeit(self.function, number=self.calls)
        self.samples.append(seconds / self.calls * 1e6)


def time_interleaved(timed: dict[str, Timed], rounds: int) -> dict[str, dict[str, float]]:
    """Microseconds per call of each entry, timed in turn in `rounds` slices of about
    SLICE_SECONDS each: a burst of load from elsewhere on the machine then spoils a slice of
    every entry alike, instead of all of one entry's time. Median and best slice."""
    for entry in timed.values():
        entry.function()  # warm
        seconds = timeit.timeit(entry.function, number=10) / 10
        entry.calls = max(1, int(SLICE_SECONDS / max(seconds, 1e-9)))
    for _ in range(rounds):
        for entry in timed.values():
            entry.run_slice()
    return {
        name: {
            "median_us": round(statistics.median(entry.samples), 2),
            "min_us": round(min(entry.samples), 2),
            "calls_per_slice": entry.calls,
            "slices": len(entry.samples),
        }
        for name, entry in timed.items()
    }


def count_queries(function: Any) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        function()
    return [query["sql"] for query in captured.captured_queries]


def query_plan(sql: str) -> list[str]:
    """How the database answers `sql`: EXPLAIN QUERY PLAN on SQLite, EXPLAIN elsewhere."""
    sqlite = connection.vendor == "sqlite"
    with connection.cursor() as cursor:
        cursor.execute(f"{'EXPLAIN QUERY PLAN' if sqlite else 'EXPLAIN'} {sql}")
        return [str(row[-1] if sqlite else row[0]) for row in cursor.fetchall()]


def headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Api-Key {key}"} if key else {}


def measure(folder: Path, quick: bool) -> dict[str, Any]:
    ours = (folder / "project-keys.txt").read_text().split()
    package = (folder / "package-keys.txt").read_text().split()
    single = json.loads((folder / "keys.json").read_text())
    results: dict[str, Any] = {
        "vendor": connection.vendor,
        "rows_in_key_table": APIKey.objects.count(),
        # Requests the servers counted and moved to the usage table while loaded (the last
        # minute's may still be in the cache): more than 0 shows that usage counting ran in the
        # shipped mode. None: the key app counts no usage.
        "usage_moved": None,
    }
    if KeyUsage is not None:
        moved = KeyUsage.objects.aggregate(accepted=Sum("accepted"), refused=Sum("refused"))
        results["usage_moved"] = (moved["accepted"] or 0) + (moved["refused"] or 0)
    # Every key used just now: none falls due for a last_used_at write while this runs (well
    # under a minute), so the figures are the check's own; the load measured the writes.
    APIKey.objects.update(last_used_at=timezone.now())

    # One check of a key this process has not checked yet: its queries, and the query's plan.
    check_queries = count_queries(lambda: APIKey.objects.is_valid(ours[-1]))
    results["check"] = {
        "queries": len(check_queries),
        "sql": check_queries,
        "plan": query_plan(check_queries[0]) if len(check_queries) == 1 else [],
    }

    # Key checks alone, the keys in turn. The key app remembers a verdict for the rest of a
    # request, so each `authenticate` call gets a request of its own.
    next_ours, next_package = cycle(ours).__next__, cycle(package).__next__

    def fresh_request() -> Request:
        django_request = HttpRequest()
        django_request.META["HTTP_AUTHORIZATION"] = f"Api-Key {next_ours()}"
        return Request(django_request)

    authentication = APIKeyAuthentication()
    checks = {
        "is_valid": Timed(lambda: APIKey.objects.is_valid(next_ours())),
        "authenticate": Timed(lambda: authentication.authenticate(fresh_request())),
        "fresh_request": Timed(fresh_request),
        "package_is_valid": Timed(lambda: PackageAPIKey.objects.is_valid(next_package())),
    }

    # Whole requests through Django's test client (the views, middleware and logging included),
    # each presenting its keys in turn.
    client = Client(HTTP_HOST="127.0.0.1")
    valid = ours[0]
    bad_checksum = valid[:-1] + ("A" if valid[-1] != "A" else "B")
    requests: dict[str, tuple[str, list[str | None]]] = {
        "open": ("/api/v1/open-whoami/", [None]),
        "floor": ("/api/v1/floor-whoami/", [*ours]),
        "ours": ("/api/v1/whoami/", [*ours]),
        "package": ("/api/v1/package-whoami/", [*package]),
        "reject_no_key": ("/api/v1/whoami/", [None]),
        "reject_bad_checksum": ("/api/v1/whoami/", [bad_checksum]),
        "reject_unknown": ("/api/v1/whoami/", [single["unknown"]]),
        "reject_revoked": ("/api/v1/whoami/", [single["revoked"]]),
    }

    def get(path: str, key: str | None) -> int:
        return client.get(path, headers=headers(key)).status_code

    timed_requests, statuses, queries = {}, {}, {}
    for name, (path, keys) in requests.items():
        # A key's first use may write last_used_at, and the next see the change: the third
        # request with one key is the steady state.
        statuses[name] = get(path, keys[0])
        get(path, keys[0])
        queries[name] = len(count_queries(lambda path=path, key=keys[0]: get(path, key)))
        presented = cycle(keys).__next__
        timed_requests[name] = Timed(lambda path=path, presented=presented: get(path, presented()))

    rounds = 3 if quick else 20
    results.update(time_interleaved(checks, rounds))
    results["requests"] = time_interleaved(timed_requests, rounds)
    for name, figures in results["requests"].items():
        figures.update(status=statuses[name], queries=queries[name])
    return results


def main(argv: list[str]) -> None:
    command = argv[0] if argv else ""
    if command == "keys" and len(argv) == 3:
        make_keys(Path(argv[1]), int(argv[2]))
    elif command == "micro" and len(argv) in (3, 4):
        results = measure(Path(argv[1]), quick="--quick" in argv[3:])
        Path(argv[2]).write_text(json.dumps(results, indent=2))
    elif command == "api-keys" and len(argv) == 1:
        print(json.dumps(settings.API_KEYS))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
