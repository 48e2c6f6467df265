"""Compare two copies of the template (by default this one and a changed one), served at once.

    python bench/compare.py PATH/TO/CHANGED/TEMPLATE [--base PATH] [--rounds 20]

Bakes both (the base is this repository unless --base names another copy), serves each with
gunicorn (2 workers, one key, the project's own API_KEYS but for the throttle) and loads the
same cases on each in turn, round after round, so that both meet the same load from the rest
of the machine. Prints, per case, the changed template's req/s over the base's (median of the
rounds' ratios, with quartiles) and the same comparison made with server CPU per request.
Uses bench/run.py's environment, servers and load; writes nothing.
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
    ("baseline", "/api/v1/open-whoami/", None, 200),
    ("whoami", run.WHOAMI, "valid", 200),
    ("reject_no_key", run.WHOAMI, None, 401),
    ("reject_bad_checksum", run.WHOAMI, "bad_checksum", 401),
    ("reject_unknown", run.WHOAMI, "unknown", 401),
    ("reject_revoked", run.WHOAMI, "revoked", 401),
]
SIDES = ("base", "changed")


def paired(top: list[float], bottom: list[float]) -> str:
    ratios = [a / b for a, b in zip(top, bottom, strict=True)]
    low, high = run.quartiles(ratios)
    return f"{statistics.median(ratios):.3f} ({low:.2f}–{high:.2f})"


def main() -> int:
    run.enter_venv(Path(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("changed", type=Path, help="the changed copy of the template")
    parser.add_argument(
        "--base",
        type=Path,
        default=run.TEMPLATE_DIR,
        help="the template to compare it with (default: this repository)",
    )
    parser.add_argument("--rounds", type=int, default=20)
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian or Ubuntu: sudo apt-get install -y wrk")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="api-key-compare-"))
    servers: dict[str, tuple[run.Server, run.Project]] = {}
    cases: dict[tuple[str, str], run.Case] = {}
    try:
        for side, template in zip(SIDES, (arguments.base, arguments.changed), strict=True):
            folder = workdir / side
            folder.mkdir()
            project, _ = run.bake(template, folder)
            one_key_db, _ = run.prepare(project, folder, 10)
            server = run.Server(side, one_key_db)
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
    print("| case | req/s, base | req/s, changed | changed / base, req/s | base / changed, CPU |")
    print("|---|--:|--:|--:|--:|")
    for name, *_ in CASES:
        base, changed = values(name, "base", "rps"), values(name, "changed", "rps")
        cpu = paired(values(name, "base", "cpu_us"), values(name, "changed", "cpu_us"))
        print(
            f"| {name} | {statistics.median(base):.0f} | {statistics.median(changed):.0f} "
            f"| {paired(changed, base)} | {cpu} |"
        )
    print()
    for side in SIDES:
        accepted = values("whoami", side, "rps")
        print(f"{side}: whoami over baseline {paired(accepted, values('baseline', side, 'rps'))}")
        for name, *_ in CASES[2:]:
            print(f"{side}: {name} over whoami {paired(values(name, side, 'rps'), accepted)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
