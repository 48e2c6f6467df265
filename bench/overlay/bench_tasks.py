"""The benchmark's work inside a baked project: test data and the in-process measurements.

bench/run.py copies this file beside manage.py and runs it with config.settings.bench:
    python bench_tasks.py keys OUT.json     keys for each case (package key, unknown, revoked)
    python bench_tasks.py bulk COUNT        COUNT more keys in the database, by bulk_create
    python bench_tasks.py micro IN.json OUT.json [--quick]
                                            verification timings, query counts, query plan
"""

import importlib
import json
import os
import random
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import Client, RequestFactory, override_settings  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework_api_key.models import APIKey as PackageAPIKey  # noqa: E402

KEY_APP = next(app for app in settings.INSTALLED_APPS if app.endswith(".api_keys"))
APIKey = importlib.import_module(f"{KEY_APP}.models").APIKey
APIKeyAuthentication = importlib.import_module(f"{KEY_APP}.authentication").APIKeyAuthentication
verification_cache = importlib.import_module(f"{KEY_APP}.cache").verification_cache


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


def time_call(function: Any, repeat: int) -> dict[str, float]:
    """Microseconds per call: median and best of `repeat` timeit rounds."""
    timer = timeit.Timer(function)
    number, _ = timer.autorange()
    per_call = [seconds / number * 1e6 for seconds in timer.repeat(repeat=repeat, number=number)]
    return {
        "median_us": round(statistics.median(per_call), 2),
        "min_us": round(min(per_call), 2),
        "calls_per_round": number,
    }


def count_queries(function: Any) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        function()
    return [query["sql"] for query in captured.captured_queries]


def query_plan(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return [str(row[-1]) for row in cursor.fetchall()]


def measure_request(client: Client, path: str, key: str | None, repeat: int) -> dict[str, Any]:
    """Status, queries and time of one request, after a first one has warmed the caches."""
    headers = {"Authorization": f"Api-Key {key}"} if key else {}

    def get() -> int:
        return client.get(path, headers=headers).status_code

    status = get()
    return {"status": status, "queries": len(count_queries(get)), **time_call(get, repeat)}


def measure(keys: dict[str, str], quick: bool) -> dict[str, Any]:
    repeat = 3 if quick else 15
    key = keys["valid"]
    header = f"Api-Key {key}"
    results: dict[str, Any] = {"rows_in_key_table": APIKey.objects.count()}

    # Hit path: the key is in this process's verification cache.
    verification_cache.clear()
    APIKey.objects.is_valid(key)
    results["is_valid_hit"] = time_call(lambda: APIKey.objects.is_valid(key), repeat)
    request = Request(RequestFactory().get("/api/v1/whoami/", HTTP_AUTHORIZATION=header))
    authentication = APIKeyAuthentication()
    authentication.authenticate(request)
    results["authenticate_hit"] = time_call(lambda: authentication.authenticate(request), repeat)

    # Miss path: the queries, and how the database answers the lookup.
    verification_cache.clear()
    miss_queries = count_queries(lambda: APIKey.objects.is_valid(key))
    results["miss"] = {
        "queries": len(miss_queries),
        "sql": miss_queries,
        "plan": query_plan(miss_queries[0]) if len(miss_queries) == 1 else [],
    }
    with override_settings(API_KEYS={**settings.API_KEYS, "VERIFICATION_CACHE_TTL": 0}):
        results["is_valid_miss"] = time_call(lambda: APIKey.objects.is_valid(key), repeat)
    package_key = keys["package"]
    results["package_is_valid"] = time_call(
        lambda: PackageAPIKey.objects.is_valid(package_key), repeat
    )

    # Whole requests through Django's test client: queries in the steady state, and time.
    client = Client(HTTP_HOST="127.0.0.1")
    requests = {
        "baseline": ("/bench/open-whoami/", None),
        "whoami_cache": ("/api/v1/whoami/", key),
        "package": ("/bench/package-whoami/", package_key),
        "reject_no_key": ("/api/v1/whoami/", None),
        "reject_bad_checksum": ("/api/v1/whoami/", keys["bad_checksum"]),
        "reject_unknown": ("/api/v1/whoami/", keys["unknown"]),
        "reject_revoked": ("/api/v1/whoami/", keys["revoked"]),
    }
    results["requests"] = {}
    for name, (path, presented) in requests.items():
        results["requests"][name] = measure_request(client, path, presented, repeat)
    with override_settings(API_KEYS={**settings.API_KEYS, "VERIFICATION_CACHE_TTL": 0}):
        results["requests"]["whoami_no_cache"] = measure_request(
            client, "/api/v1/whoami/", key, repeat
        )
    verification_cache.clear()
    results["requests"]["whoami_cache"]["queries_on_miss"] = len(
        count_queries(lambda: client.get("/api/v1/whoami/", headers={"Authorization": header}))
    )
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
