"""Compare this template with a changed copy of it, both served at once, case by case.

    python bench/compare.py PATH/TO/CHANGED/TEMPLATE [--rounds 20]

Bakes both, serves each with gunicorn (2 workers, verification cache on, one key) and loads
the same cases on each in turn, round after round, so that both meet the same load from the
rest of the machine. Prints, per case, the changed template's req/s over this one's (median
of the rounds' ratios, with quartiles) and the same comparison made with server CPU per
request. Uses bench/run.py's environment, servers and load; writes nothing.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import run

CASES = [
    # name, path, key presented, expected status
    ("baseline", "/bench/open-whoami/", None, 200),
    ("whoami_cache", run.WHOAMI, "valid", 200),
    ("reject_no_key", run.WHOAMI, None, 401),
    ("reject_bad_checksum", run.WHOAMI, "bad_checksum", 401),
    ("reject_unknown", run.WHOAMI, "unknown", 401),
    ("reject_revoked", run.WHOAMI, "revoked", 401),
]
SIDES = ("this", "changed")


def paired(top: list[float], bottom: list[float]) -> str:
    ratios = [a / b for a, b in zip(top, bottom, strict=True)]
    low, high = run.quartiles(ratios)
    return f"{statistics.median(ratios):.3f} ({low:.2f}–{high:.2f})"


def main() -> int:
    run.enter_venv(Path(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("changed", type=Path, help="the changed copy of the template")
    parser.add_argument("--rounds", type=int, default=20)
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian or Ubuntu: sudo apt-get install -y wrk")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="api-key-compare-"))
    servers: dict[str, tuple[run.Server, run.Project]] = {}
    cases: dict[tuple[str, str], run.Case] = {}
    try:
        for side, template in zip(SIDES, (run.TEMPLATE_DIR, arguments.changed), strict=True):
            folder = workdir / side
            folder.mkdir()
            project, _ = run.bake(template, folder)
            one_key_db, _ = run.prepare(project, folder, 10)
            server = run.Server(side, one_key_db, run.VERIFICATION_CACHE_TTL)
            server.start(project, folder)
            server.wait_ready(folder)
            servers[side] = (server, project)
        for name, path, key, status in CASES:
            for side in SIDES:
                case = run.Case(name, f"{name} ({side})", side, path, key, status)
                case.probe = run.probe(*servers[side], case)
                cases[name, side] = case
        for number in range(1, arguments.rounds + 1):
            print(f"  round {number} of {arguments.rounds}", flush=True)
            for case in cases.values():
                run.measure_case(*servers[case.server], case, 1, 1 if number == 1 else 0)
    except run.BenchmarkBroken as error:
        print(f"\nThe comparison is broken: {error}", file=sys.stderr)
        return 1
    finally:
        for server, _ in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def values(name: str, side: str, figure: str) -> list[float]:
        return [result[figure] for result in cases[name, side].runs]

    print()
    print("| case | req/s, this | req/s, changed | changed / this, req/s | this / changed, CPU |")
    print("|---|--:|--:|--:|--:|")
    for name, *_ in CASES:
        this, changed = values(name, "this", "rps"), values(name, "changed", "rps")
        cpu = paired(values(name, "this", "cpu_us"), values(name, "changed", "cpu_us"))
        print(
            f"| {name} | {statistics.median(this):.0f} | {statistics.median(changed):.0f} "
            f"| {paired(changed, this)} | {cpu} |"
        )
    print()
    for side in SIDES:
        accepted = values("whoami_cache", side, "rps")
        print(f"{side}: whoami over baseline {paired(accepted, values('baseline', side, 'rps'))}")
        for name, *_ in CASES[2:]:
            print(f"{side}: {name} over whoami {paired(values(name, side, 'rps'), accepted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
