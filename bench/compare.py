"""Compare two copies of the template (by default this one and a changed one), served at once.

    python bench/compare.py PATH/TO/CHANGED/TEMPLATE [--base PATH] [--rounds 20]
    python bench/compare.py PATH --production [--mode lifted|shipped|no-usage] [--rounds 20]

Bakes both (the base is this repository unless --base names another copy), serves each with
gunicorn (2 workers) and loads the same cases on each in turn, round after round, so that both
meet the same load from the rest of the machine. Prints, per case, the changed template's req/s
over the base's (median of the rounds' ratios, with quartiles), the same comparison made with
server CPU per request, and each side's ratios within a round.

- Default: the default bake (SQLite + local memory), one key, nothing counted (the lifted mode):
  open, whoami and the four rejected requests.
- --production: PostgreSQL + Redis (a database and a Redis database number per side), 1,000 keys
  presented in turn, in one of run.py's modes (baking.MODES): lifted (default, nothing counted),
  shipped (as shipped, with a quota) or no-usage (the same without usage counting): open, floor,
  ours, package. A mode sets only the entries each side's key app has.

Uses the benchmark's modules (baking, serving, loading); writes nothing.
"""

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import baking
import loading
from environment import TEMPLATE_DIR, BenchmarkBroken, enter_venv
from reporting import quartiles
from services import Services
from serving import Server, start_all

SIDES = ("base", "changed")


def paired(top: list[float], bottom: list[float]) -> str:
    ratios = [a / b for a, b in zip(top, bottom, strict=True)]
    low, high = quartiles(ratios)
    return f"{statistics.median(ratios):.3f} ({low:.2f}–{high:.2f})"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("changed", type=Path, help="the changed copy of the template")
    parser.add_argument(
        "--base",
        type=Path,
        default=TEMPLATE_DIR,
        help="the template to compare it with (default: this repository)",
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument(
        "--production",
        action="store_true",
        help="PostgreSQL + Redis, 1,000 keys in turn (default: SQLite, one key)",
    )
    parser.add_argument(
        "--mode",
        "--throttle",  # its earlier name
        dest="mode",
        choices=list(baking.MODES),
        default="lifted",
        help="what the key app counts, --production: "
        + "; ".join(f"{mode}: {label}" for mode, label in baking.MODES.items()),
    )
    parser.add_argument("--keys", type=int, default=1000, help="keys in turn, --production")
    return parser.parse_args()


def serve_side(
    side: str, template: Path, arguments: argparse.Namespace, workdir: Path, own: list
) -> list[loading.Case]:
    """Bake, prepare and serve one side; its cases, in the order a round runs them."""
    folder = workdir / side
    folder.mkdir()
    shape = baking.PRODUCTION if arguments.production else baking.DEFAULT
    services = None
    if arguments.production:
        services = Services(side)
        own.append(services)
        services.start()
    print(f"{side}: baking {template} ({shape.label}) ...", flush=True)
    project, _ = baking.bake(template, folder, shape, services)
    baking.prepare(project, folder, arguments.keys if arguments.production else 10)
    mode = arguments.mode if arguments.production else "lifted"
    server = Server(side, project, mode, folder)
    own.append(server)
    start_all([server])
    if arguments.production:
        return loading.keys_in_turn(side, server)
    return [case for case in loading.one_key(side, server) if case.kind != "package"]


def main() -> int:
    enter_venv(Path(__file__))
    arguments = parse_arguments()
    if shutil.which("wrk") is None:
        print("wrk is not installed. On Debian or Ubuntu: sudo apt-get install -y wrk")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="api-key-compare-"))
    own: list = []  # servers and services, stopped at the end
    cases: dict[tuple[str, str], loading.Case] = {}
    try:
        templates = (arguments.base, arguments.changed)
        for side, template in zip(SIDES, templates, strict=True):
            for case in serve_side(side, template, arguments, workdir, own):
                cases[case.kind, side] = case
        kinds = list(dict.fromkeys(kind for kind, _ in cases))
        for case in cases.values():
            loading.probe(case)
        # Each case on both sides, one after the other, so that they meet the same load.
        order = [cases[kind, side] for kind in kinds for side in SIDES]
        loading.load_rounds(order, arguments.rounds, 1, 1, lambda case: case.kind)
    except BenchmarkBroken as error:
        print(f"\nThe comparison is broken: {error}", file=sys.stderr)
        return 1
    finally:
        for thing in reversed(own):
            thing.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    def values(kind: str, side: str, figure: str) -> list[float]:
        return [result[figure] for result in cases[kind, side].runs]

    print()
    print("| case | req/s, base | req/s, changed | changed / base, req/s | base / changed, CPU |")
    print("|---|--:|--:|--:|--:|")
    for kind in kinds:
        base, changed = values(kind, "base", "rps"), values(kind, "changed", "rps")
        cpu = paired(values(kind, "base", "cpu_us"), values(kind, "changed", "cpu_us"))
        print(
            f"| {kind} | {statistics.median(base):.0f} | {statistics.median(changed):.0f} "
            f"| {paired(changed, base)} | {cpu} |"
        )
    print()
    if arguments.production:
        pairs = [("ours", "floor"), ("ours", "package"), ("floor", "open"), ("ours", "open")]
    else:
        pairs = [("ours", "open")] + [(kind, "ours") for kind in kinds if kind.startswith("rej")]
    for side in SIDES:
        for top, bottom in pairs:
            ratio = paired(values(top, side, "rps"), values(bottom, side, "rps"))
            print(f"{side}: {top}/{bottom} {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
