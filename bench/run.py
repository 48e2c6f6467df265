"""Benchmark the generated project's API key check, end to end, on this machine.

    python bench/run.py            # full run: 25 rounds of 1 s per case, about 16 minutes
    python bench/run.py --quick    # 1 round: proves that it works, about 2 minutes

Bakes the project twice, in the production shape (PostgreSQL + Redis) and the default shape
(SQLite + local memory), serves each with gunicorn (2 sync workers) in three modes (nothing
counted; as shipped, with a quota; the same without usage counting: baking.MODES), and loads
each with wrk, 1,000 keys presented in turn: no key check (open), the least an exact check can
do (floor), the project's whoami (ours) and djangorestframework-api-key (package). Also one
key and rejected keys on SQLite. Writes
bench/results/latest.json, .md and .png (quick.* with --quick). Exits non-zero only when
something is broken, never for a missed target. See bench/README.md.

The steps are in the modules beside this one: environment (venv, commands, machine),
services (PostgreSQL and Redis), baking (bake, overlay, keys), serving (gunicorn), loading
(cases and wrk) and reporting (ratios, targets, Markdown, chart).
"""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import baking
import loading
import reporting
from environment import (
    RESULTS_DIR,
    TEMPLATE_DIR,
    BenchmarkBroken,
    enter_venv,
    machine_facts,
    template_revision,
)
from services import Services
from serving import WORKERS, Server, start_all


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s, no generated suite")
    parser.add_argument("--rounds", type=int, help="rounds of every case (full: 25)")
    parser.add_argument("--seconds", type=int, help="measured seconds per case and round (1)")
    parser.add_argument("--keys", type=int, default=1000, help="keys presented in turn (1,000)")
    parser.add_argument(
        "--shape",
        choices=sorted(baking.SHAPES),
        default="all",
        help="production (PostgreSQL + Redis), sqlite (the default bake), or all (default)",
    )
    parser.add_argument("--skip-suite", action="store_true", help="do not run the generated suite")
    parser.add_argument("--keep", action="store_true", help="keep the baked projects afterwards")
    parser.add_argument("--output", type=Path, help="JSON path (the .md and .png go beside it)")
    parser.add_argument(
        "--template",
        type=Path,
        default=TEMPLATE_DIR,
        help="template to bake (default: this repository), e.g. a copy with a change to try",
    )
    parser.add_argument("--revision", help="what to call the template in the results")
    arguments = parser.parse_args()
    quick = arguments.quick
    arguments.rounds = arguments.rounds or (1 if quick else 25)
    arguments.seconds = arguments.seconds or 1
    arguments.warmup = 1
    arguments.skip_suite = arguments.skip_suite or quick
    arguments.output = arguments.output or RESULTS_DIR / ("quick.json" if quick else "latest.json")
    return arguments


def make_project(
    shape: baking.Shape, arguments: argparse.Namespace, folder: Path, services: list[Services]
) -> tuple[baking.Project, dict[str, Any]]:
    """Bake one shape (in its own PostgreSQL and Redis databases for the production shape),
    run the generated suite on the default shape, add the overlay and make the keys."""
    folder.mkdir()
    own = None
    if shape.uses_services:
        own = Services("run")
        services.append(own)
        own.start()
    print(f"Baking the {shape.label} project ...", flush=True)
    project, bake_seconds = baking.bake(arguments.template, folder, shape, own)
    print(f"  {bake_seconds:.1f} s: {project.root}", flush=True)
    facts: dict[str, Any] = {
        "label": shape.label,
        "extra_context": shape.extra_context,
        "bake_seconds": round(bake_seconds, 2),
        "generated_suite": None,
    }
    if shape == baking.DEFAULT and not arguments.skip_suite:
        print("Running the generated suite ...", flush=True)
        facts["generated_suite"] = baking.run_generated_suite(project)
        print(f"  {facts['generated_suite']['summary']}", flush=True)
    started = time.perf_counter()
    baking.prepare(project, folder, arguments.keys)
    facts["prepare_seconds"] = round(time.perf_counter() - started, 1)
    # API_KEYS as each mode's servers read it: what the mode set, where the baked key app has
    # the entry (an older template may lack QUOTA or USAGE).
    facts["api_keys"] = {
        mode: json.loads(project.tasks("api-keys", mode=mode)) for mode in baking.MODES
    }
    return project, facts


def benchmark(
    arguments: argparse.Namespace, workdir: Path, servers: list[Server], services: list[Services]
) -> dict[str, Any]:
    started = time.perf_counter()
    shapes = baking.SHAPES[arguments.shape]
    results: dict[str, Any] = {
        "mode": "quick" if arguments.quick else "full",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "template": str(arguments.template),
        "template_revision": arguments.revision or template_revision(arguments.template),
        "machine": machine_facts(),
        "settings": {
            "modes": baking.MODES,  # what each sets: shapes.<shape>.api_keys
            "rounds": arguments.rounds,
            "seconds": arguments.seconds,
            "warmup_seconds": arguments.warmup,
            "connections": loading.CONNECTIONS,
            "wrk_threads": loading.WRK_THREADS,
            "gunicorn_workers": WORKERS,
            "conn_max_age": 600,
            "keys": arguments.keys,
            "settings_module": "config.settings.bench (production, plain HTTP, logs at WARNING)",
        },
        "shapes": {},
        "groups": {},
    }
    projects = {}
    for shape in shapes:
        projects[shape.name], results["shapes"][shape.name] = make_project(
            shape, arguments, workdir / shape.name, services
        )

    # One server per shape and mode, all up at once; only the one under load works.
    cases: list[loading.Case] = []
    for shape in shapes:
        by_mode = {}
        for mode, mode_label in baking.MODES.items():
            server = by_mode[mode] = Server(
                f"{shape.name}-{mode}", projects[shape.name], mode, workdir
            )
            servers.append(server)
            group = f"{shape.name}/{mode}"
            results["groups"][group] = f"{shape.label}, {mode_label}"
            cases += loading.keys_in_turn(group, server)
        if shape == baking.DEFAULT:  # the single-key and rejected cases
            group = f"{shape.name}/one-key"
            results["groups"][group] = f"{shape.label}, one key, {baking.MODES['lifted']}"
            cases += loading.one_key(group, by_mode["lifted"])
    start_all(servers)
    for case in cases:
        loading.probe(case)
    sizes = {case.probe["body_bytes"] for case in cases if case.status == 200}
    if len(sizes) > 1:
        print(f"  note: the 200 answers differ in size: {sorted(sizes)} bytes", flush=True)

    print(f"Load: {len(cases)} cases a round, in this order: " + ", ".join(c.name for c in cases))
    phase = time.perf_counter()
    loading.load_rounds(cases, arguments.rounds, arguments.seconds, arguments.warmup)
    for server in servers:
        server.stop()
    for shape in shapes:
        results["shapes"][shape.name]["usage_dropped"] = projects[shape.name].usage_dropped
    results["load_seconds"] = round(time.perf_counter() - phase, 1)

    print("In-process measurements ...", flush=True)
    phase = time.perf_counter()
    for shape in shapes:
        project, out = projects[shape.name], workdir / shape.name / "micro.json"
        quick = ["--quick"] if arguments.quick else []
        # In the lifted mode (the default of tasks): nothing counted, the key check's own cost.
        keys = str(project.key_files["project"].parent)
        project.tasks("micro", keys, str(out), *quick, log=workdir / shape.name / "micro.log")
        results["shapes"][shape.name]["micro"] = json.loads(out.read_text())
    results["micro_seconds"] = round(time.perf_counter() - phase, 1)

    results["cases"] = {case.name: reporting.summarize(case) for case in cases}
    results["ratios"] = reporting.ratios(results["cases"])
    results["targets"] = reporting.targets(results["ratios"], results["shapes"])
    results["machine"]["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    return results


def main() -> int:
    enter_venv(Path(__file__))
    arguments = parse_arguments()
    # Stopped from outside: still stop the servers, drop the database, remove the bakes.
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian or Ubuntu: sudo apt-get install -y wrk")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="api-key-bench-"))
    servers: list[Server] = []
    services: list[Services] = []
    try:
        results = benchmark(arguments, workdir, servers, services)
    except BenchmarkBroken as error:
        print(f"\nThe benchmark is broken: {error}", file=sys.stderr)
        return 1
    finally:
        for server in servers:
            server.stop()
        for own in services:
            own.stop()
        if arguments.keep:
            print(f"Kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    arguments.output.write_text(json.dumps(results, indent=2) + "\n")
    report = reporting.report_markdown(results)
    arguments.output.with_suffix(".md").write_text(report)
    reporting.draw_chart(results, arguments.output.with_suffix(".png"))
    print()
    print(report)
    print(f"Wrote {arguments.output} and the .md and .png beside it.")
    print(f"Total: {results['total_seconds']:.0f} s")
    suite = results["shapes"].get(baking.DEFAULT.name, {}).get("generated_suite")
    if suite and not suite["ok"]:
        print("The generated suite failed.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
