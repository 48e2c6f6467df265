"""The benchmark's work inside a baked project: test data and the in-process measurements.

bench/run.py copies this file beside manage.py and runs it with config.settings.bench:
    python bench_tasks.py keys OUT.json     keys for each case (package key, unknown, revoked)
    python bench_tasks.py bulk COUNT        COUNT more keys in the database, by bulk_create
    python bench_tasks.py micro IN.json OUT.json [--quick]
                                            verification timings, query counts, query plan

On SQLite the key app remembers a verdict until the database changes (api_keys/cache.py, where
the template has it): `is_valid` is that path; `is_valid_query` forgets first, and pays the query.
"""

import importlib
import json
import os
import random
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.http import HttpRequest  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework_api_key.models import APIKey as PackageAPIKey  # noqa: E402

KEY_APP = next(app for app in settings.INSTALLED_APPS if app.endswith(".api_keys"))
APIKey = importlib.import_module(f"{KEY_APP}.models").APIKey
APIKeyAuthentication = importlib.import_module(f"{KEY_APP}.authentication").APIKeyAuthentication
try:
    forget_verdicts = importlib.import_module(f"{KEY_APP}.cache").forget_all
except (ImportError, AttributeError):  # a template without it, or with the older cache
    forget_verdicts = None
SLICE_SECONDS = 0.05


def make_keys(out: Path) -> None:
    """Keys that the load cases present, besides the first key the hook made."""
    _, package_key = PackageAPIKey.objects.create_key(name="first key")
    revoked, revoked_key = APIKey.objects.create_key(name="revoked")
    revoked.revoke()
    unknown_key, _, _ = APIKey.objects.key_generator.generate()  # well formed, never saved
    out.write_text(
        json.dumps({"package": package_key, "revoked": revoked_key, "unknown": unknown_key})
    )


def bulk_insert(count: int) -> None:
    """`count` keys with distinct lookup ids and hashes of random secrets, as the key app makes
    them; drawn from a seeded generator (not `secrets`), since nobody will ever present them."""
    keys = importlib.import_module(f"{KEY_APP}.keys")
    options = importlib.import_module(f"{KEY_APP}.settings").api_keys_settings()
    generator = APIKey.objects.key_generator
    draw = random.Random(count).choices
    started = time.perf_counter()
    taken = set(APIKey.objects.values_list("lookup_id", flat=True))
    rows = []
    while len(rows) < count:
        lookup_id = "".join(draw(keys.ALPHABET, k=options.lookup_id_length))
        if lookup_id in taken:
            continue
        taken.add(lookup_id)
        secret = "".join(draw(keys.ALPHABET, k=options.secret_length))
        name = f"bulk {len(rows)}"
        rows.append(APIKey(lookup_id=lookup_id, hashed_key=generator.hash(secret), name=name))
    with transaction.atomic():
        APIKey.objects.bulk_create(rows, batch_size=5000)
    total = APIKey.objects.count()
    print(f"{count} keys inserted in {time.perf_counter() - started:.1f} s; {total} in the table")


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
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return [str(row[-1]) for row in cursor.fetchall()]


def measure(keys: dict[str, str], quick: bool) -> dict[str, Any]:
    key, package_key = keys["valid"], keys["package"]
    results: dict[str, Any] = {"rows_in_key_table": APIKey.objects.count()}

    # One check with nothing remembered: the queries it runs, and how the database answers.
    if forget_verdicts is not None:
        forget_verdicts()
    check_queries = count_queries(lambda: APIKey.objects.is_valid(key))
    results["check"] = {
        "queries": len(check_queries),
        "sql": check_queries,
        "plan": query_plan(check_queries[0]) if len(check_queries) == 1 else [],
    }

    # Key checks alone. The key app remembers a verdict for the rest of a request, so that
    # authentication and permissions check a key once: each call gets a request of its own.
    header = f"Api-Key {key}"

    def fresh_request() -> Request:
        django_request = HttpRequest()
        django_request.META["HTTP_AUTHORIZATION"] = header
        return Request(django_request)

    def check_with_nothing_remembered() -> bool:
        if forget_verdicts is not None:
            forget_verdicts()
        return APIKey.objects.is_valid(key)

    authentication = APIKeyAuthentication()
    accepted_request = fresh_request()
    checks = {
        "is_valid": Timed(lambda: APIKey.objects.is_valid(key)),
        "is_valid_query": Timed(check_with_nothing_remembered),
        "authenticate": Timed(lambda: authentication.authenticate(fresh_request())),
        "fresh_request": Timed(fresh_request),
        "package_is_valid": Timed(lambda: PackageAPIKey.objects.is_valid(package_key)),
    }
    refusals = getattr(APIKeyAuthentication, "refusals", None)
    if refusals is not None:  # what the per-address limit on refused keys adds to an accepted one
        checks["refusal_check"] = Timed(lambda: refusals.check(accepted_request))

    # Whole requests through Django's test client (the views, middleware and logging included).
    client = Client(HTTP_HOST="127.0.0.1")
    requests = {
        "baseline": ("/api/v1/open-whoami/", None),
        "whoami": ("/api/v1/whoami/", key),
        "package": ("/api/v1/package-whoami/", package_key),
        "reject_no_key": ("/api/v1/whoami/", None),
        "reject_bad_checksum": ("/api/v1/whoami/", keys["bad_checksum"]),
        "reject_unknown": ("/api/v1/whoami/", keys["unknown"]),
        "reject_revoked": ("/api/v1/whoami/", keys["revoked"]),
    }
    timed_requests, statuses, queries = {}, {}, {}
    for name, (path, presented) in requests.items():
        headers = {"Authorization": f"Api-Key {presented}"} if presented else {}

        def get(path: str = path, headers: dict[str, str] = headers) -> int:
            return client.get(path, headers=headers).status_code

        # The first may write last_used_at (when due), a change to the database that the
        # second sees and queries again after; the third is the steady state.
        statuses[name] = get()
        get()
        queries[name] = len(count_queries(get))
        timed_requests[name] = Timed(get)

    rounds = 5 if quick else 40
    results.update(time_interleaved(checks, rounds))
    results["requests"] = time_interleaved(timed_requests, rounds)
    for name, figures in results["requests"].items():
        figures.update(status=statuses[name], queries=queries[name])
    return results


def main(argv: list[str]) -> None:
    command = argv[0] if argv else ""
    if command == "keys" and len(argv) == 2:
        make_keys(Path(argv[1]))
    elif command == "bulk" and len(argv) == 2:
        bulk_insert(int(argv[1]))
    elif command == "micro" and len(argv) in (3, 4):
        keys = json.loads(Path(argv[1]).read_text())
        results = measure(keys, quick="--quick" in argv[3:])
        Path(argv[2]).write_text(json.dumps(results, indent=2))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
