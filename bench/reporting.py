"""Figures from the rounds: medians, ratios within rounds, targets, and the report and chart."""

import json
import statistics
from pathlib import Path
from typing import Any

from baking import MODES
from loading import Case

# (group, numerator, denominator, threshold, strictly above): printed, never asserted. The
# groups are "<shape>/<mode>" (baking.MODES): "shipped" is as shipped, with a quota (throttle,
# quota and usage counting all on); the targets are postgresql/shipped's.
TARGETS = [
    ("postgresql/lifted", "ours", "floor", 0.95, False),
    ("sqlite/lifted", "ours", "floor", 0.95, False),
    ("postgresql/shipped", "ours", "floor", 0.85, False),
    ("sqlite/shipped", "ours", "floor", 0.85, False),
    ("postgresql/lifted", "ours", "package", 1.2, False),
    ("postgresql/shipped", "ours", "package", 1.0, True),
]
REJECTED_NOISE_ALLOWANCE = 0.95  # rejected cases against an accepted one (see README)
# The ratios of each kind of group, numerator over denominator.
KEYS_IN_TURN_RATIOS = [("ours", "floor"), ("ours", "package"), ("floor", "open"), ("ours", "open")]
ONE_KEY_RATIOS = [("ours", "open"), ("ours", "package"), ("package", "open")]
# Ours as shipped (with a quota) over ours in another mode of the same shape, by that mode.
COST_RATIOS = {
    "lifted": "ours shipped/ours lifted",
    "no-usage": "ours shipped/ours without usage",
}


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def quartiles(values: list[float]) -> list[float]:
    """The first and third quartiles (both the value itself when there is one)."""
    if len(values) < 2:
        return [values[0], values[0]]
    first, _, third = statistics.quantiles(values, n=4)
    return [round(first, 3), round(third, 3)]


def summarize(case: Case) -> dict[str, Any]:
    def values(name: str) -> list[float]:
        return [run_[name] for run_ in case.runs]

    return {
        "group": case.group,
        "kind": case.kind,
        "label": case.label,
        "path": case.path,
        "keys": "1,000 in turn" if case.key_file else (case.key or "none"),
        "expected_status": case.status,
        "probe": case.probe,
        "median": {
            name: round(median(values(name)), 3) if None not in values(name) else None
            for name in ("rps", "p50_ms", "p99_ms", "cpu_us")
        },
        "rps_min": min(values("rps")),
        "rps_max": max(values("rps")),
        "rps_quartiles": quartiles(values("rps")),
        "cpu_us_quartiles": quartiles(values("cpu_us")) if None not in values("cpu_us") else None,
        "runs": case.runs,
    }


def ratio(cases: dict[str, dict[str, Any]], top: str, bottom: str) -> dict[str, Any]:
    """req/s of case `top` over case `bottom`: the median of the ratios within each round.

    Each round measures both cases a few seconds apart, so a change in the machine's load
    between rounds cancels out of the ratio. The ratio of the two medians is given too, and
    the same comparison made with server CPU per request (`bottom`'s over `top`'s, so that
    it reads like the req/s ratio), as a second opinion.
    """
    pairs = list(zip(cases[top]["runs"], cases[bottom]["runs"], strict=True))
    per_round = [round(a["rps"] / b["rps"], 3) for a, b in pairs]
    figures = {
        "value": round(median(per_round), 3),
        "quartiles": quartiles(per_round),
        "of_medians": round(cases[top]["median"]["rps"] / cases[bottom]["median"]["rps"], 3),
        "per_round": per_round,
        "cpu_value": None,
    }
    if all(a["cpu_us"] and b["cpu_us"] for a, b in pairs):
        figures["cpu_value"] = round(median([b["cpu_us"] / a["cpu_us"] for a, b in pairs]), 3)
    return figures


def ratios(cases: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every ratio of the run, named "<group>: <top>/<bottom>"."""
    found: dict[str, dict[str, Any]] = {}
    groups = dict.fromkeys(case["group"] for case in cases.values())
    for group in groups:
        one_key = group.endswith("/one-key")
        pairs = ONE_KEY_RATIOS if one_key else KEYS_IN_TURN_RATIOS
        if one_key:
            kinds = [case["kind"] for case in cases.values() if case["group"] == group]
            pairs = pairs + [(kind, "ours") for kind in kinds if kind.startswith("reject_")]
        for top, bottom in pairs:
            found[f"{group}: {top}/{bottom}"] = ratio(cases, f"{group}/{top}", f"{group}/{bottom}")
        shape, _, mode = group.partition("/")
        if mode != "shipped":
            continue
        # What counting costs ours: everything (throttle, refused-keys limit, quota and usage),
        # and usage counting alone.
        for other, name in COST_RATIOS.items():
            if f"{shape}/{other}/ours" in cases:
                found[f"{shape}: {name}"] = ratio(cases, f"{group}/ours", f"{shape}/{other}/ours")
    return found


def plan_uses_lookup_index(plan: list[str]) -> bool:
    return any("index" in row.lower() and "lookup_id" in row for row in plan)


def targets(found: dict[str, dict[str, Any]], shapes: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target's value and verdict; a target whose cases did not run is left out."""
    verdicts = []

    def load_target(text: str, name: str, threshold: float, strict: bool) -> None:
        if name not in found:
            return
        value, cpu = found[name]["value"], found[name]["cpu_value"]

        def met(figure: float) -> bool:
            return figure > threshold if strict else figure >= threshold

        cross_check = f"server CPU: {cpu}, {'met' if met(cpu) else 'missed'}" if cpu else ""
        verdicts.append(
            {"target": text, "value": value, "met": met(value), "cross_check": cross_check}
        )

    for group, top, bottom, threshold, strict in TARGETS:
        mode = MODES[group.partition("/")[2]]
        text = f"{group} ({mode}): {top}/{bottom} {'>' if strict else '>='} {threshold}"
        load_target(text, f"{group}: {top}/{bottom}", threshold, strict)
    for name in found:
        if "/one-key: reject_" in name:
            text = f"{name} >= {REJECTED_NOISE_ALLOWANCE} (costs no more than accepted)"
            load_target(text, name, REJECTED_NOISE_ALLOWANCE, False)
    for shape, facts in shapes.items():
        check = facts["micro"]["check"]
        verdicts.append(
            {
                "target": f"{shape}: a key check costs one query, on the lookup_id index",
                "value": check["queries"],
                "met": check["queries"] == 1 and plan_uses_lookup_index(check["plan"]),
                "cross_check": "; ".join(check["plan"])[:160],
            }
        )
        bad = facts["micro"]["requests"]["reject_bad_checksum"]["queries"]
        verdicts.append(
            {
                "target": f"{shape}: a bad checksum costs no query",
                "value": bad,
                "met": bad == 0,
                "cross_check": "",
            }
        )
    return verdicts


def _spread(figures: dict[str, Any] | None) -> str:
    if figures is None:  # the cases did not run
        return ""
    low, high = figures["quartiles"]
    return f"{figures['value']:.3f} ({low:.2f}–{high:.2f})"


def report_markdown(results: dict[str, Any]) -> str:
    """The results as Markdown: printed at the end of a run and written beside the JSON."""
    machine, settings = results["machine"], results["settings"]
    cases, found = results["cases"], results["ratios"]
    lines = [
        f"{results['date']}, {results['mode']} run of template {results['template_revision']}: "
        f"{machine['nproc']} x {machine['cpu_model']}, Python {machine['python']}, "
        f"Django {machine['django']}, DRF {machine['djangorestframework']}, "
        f"djangorestframework-api-key {machine['djangorestframework_api_key']}, "
        f"gunicorn {machine['gunicorn']} ({settings['gunicorn_workers']} sync workers), "
        f"{machine['wrk']} ({settings['connections']} connections), psycopg {machine['psycopg']}, "
        f"redis-py {machine['redis_py']}. {settings['rounds']} round(s) of "
        f"{settings['seconds']} s per case, the cases in turn within each round "
        f"({settings['warmup_seconds']} s of warm-up before the first). "
        f"{settings['keys']:,} keys of the project and of the package presented in turn. "
        f"Load average at start {machine['load_average_at_start'][0]}, at end "
        f"{machine['load_average_at_end'][0]}. {results['total_seconds']:.0f} s in all.",
        "",
        "Requests per second (median of the rounds), and ratios within each round: median "
        "(first–third quartile).",
        "",
        "| shape, mode | open | floor | ours | package | ours/floor | ours/package | floor/open |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for group, label in results["groups"].items():
        if group.endswith("/one-key"):
            continue
        rps = [f"{cases[f'{group}/{kind}']['median']['rps']:.0f}" for kind in VIEW_KINDS]
        shown = [_spread(found[f"{group}: {pair}"]) for pair in SUMMARY_RATIOS]
        lines.append(f"| {label} | {' | '.join(rps)} | {' | '.join(shown)} |")
    costs = [
        f"| {facts['label']} | "
        + " | ".join(_spread(found.get(f"{shape}: {n}")) for n in COST_RATIOS.values())
        + " |"
        for shape, facts in results["shapes"].items()
    ]
    lines += [
        "",
        "What counting costs ours (its req/s as shipped, with a quota, over its req/s with "
        "nothing counted, and without usage counting): below 1 is slower.",
        "",
        "| shape | " + " | ".join(COST_RATIOS.values()) + " |",
        "|---|" + "--:|" * len(COST_RATIOS),
        *costs,
        "",
        "API_KEYS in each mode, as the servers read it (an entry not listed takes the key "
        "app's default):",
        "",
        *[
            f"- {facts['label']}, {mode}: `{json.dumps(api_keys)}`"
            for shape, facts in results["shapes"].items()
            for mode, api_keys in facts.get("api_keys", {}).items()
        ],
    ]
    lines += ["", "| target (printed, not asserted) | value | met | cross-check |"]
    lines.append("|---|--:|---|---|")
    for target in results["targets"]:
        met = "yes" if target["met"] else "NO"
        lines.append(
            f"| {target['target']} | {target['value']} | {met} | {target['cross_check']} |"
        )
    lines += [
        "",
        "| case | keys | req/s (median) | quartiles | p50 ms | p99 ms | server CPU µs/request |",
        "|---|---|--:|--:|--:|--:|--:|",
    ]
    for name, case in cases.items():
        middle, (low, high) = case["median"], case["rps_quartiles"]
        lines.append(
            f"| {name} | {case['keys']} | {middle['rps']:.0f} | {low:.0f}–{high:.0f} "
            f"| {middle['p50_ms']:.2f} | {middle['p99_ms']:.2f} | {middle['cpu_us'] or ''} |"
        )
    lines += [
        "",
        "Server CPU: what the two workers spent per answer (Linux schedstat), median of the "
        "rounds; a second opinion on each ratio, not a noise-free figure (busy neighbours on a "
        "shared virtual machine slow every instruction).",
        "",
        "| ratio of req/s | median of the rounds' ratios | quartiles | ratio of medians "
        "| from server CPU |",
        "|---|--:|--:|--:|--:|",
    ]
    for name, figures in found.items():
        low, high = figures["quartiles"]
        lines.append(
            f"| {name} | {figures['value']:.3f} | {low:.2f}–{high:.2f} "
            f"| {figures['of_medians']:.3f} | {figures['cpu_value'] or ''} |"
        )
    for shape, facts in results["shapes"].items():
        lines += ["", *in_process_lines(shape, facts)]
    return "\n".join(lines) + "\n"


VIEW_KINDS = ("open", "floor", "ours", "package")
SUMMARY_RATIOS = ("ours/floor", "ours/package", "floor/open")
CHECK_LABELS = {
    "is_valid": "`APIKey.objects.is_valid(key)`, 1,000 keys in turn",
    "authenticate": "`APIKeyAuthentication().authenticate(request)`, a fresh request each",
    "fresh_request": "of which: making the fresh DRF `Request`",
    "package_is_valid": "djangorestframework-api-key `APIKey.objects.is_valid(key)`",
}


def in_process_lines(shape: str, facts: dict[str, Any]) -> list[str]:
    """One shape's bake, suite and in-process figures."""
    micro = facts["micro"]
    suite = facts.get("generated_suite")
    suite_text = f"{suite['seconds']:.1f} s, {suite['summary']}" if suite else "not run"
    moved = micro.get("usage_moved")
    usage_text = "no usage table" if moved is None else f"{moved:,} moved to the table"
    if facts.get("usage_dropped"):
        usage_text += f", {facts['usage_dropped']:,} taken out of Redis before measured seconds"
    lines = [
        f"{facts['label']} ({shape}): bake {facts['bake_seconds']:.1f} s (hooks included), "
        f"keys made in {facts['prepare_seconds']:.1f} s; generated suite: {suite_text}; "
        f"requests the servers counted in usage: {usage_text}. "
        f"In process ({micro['rows_in_key_table']:,} keys of the project in the table; settings "
        "of the lifted mode: nothing counted), median of short slices timed in turn (best slice):",
        "",
        "| in process | µs per call | best | queries |",
        "|---|--:|--:|--:|",
    ]
    for name, label in CHECK_LABELS.items():
        lines.append(f"| {label} | {micro[name]['median_us']} | {micro[name]['min_us']} | |")
    for name, figures in micro["requests"].items():
        lines.append(
            f"| test-client request: {name} | {figures['median_us']} | {figures['min_us']} "
            f"| {figures['queries']} |"
        )
    plan = "; ".join(micro["check"]["plan"])
    lines += ["", f"A key check: {micro['check']['queries']} query; plan: `{plan}`"]
    return lines


def draw_chart(results: dict[str, Any], path: Path) -> None:
    """Two panels: req/s with p50 and p99, and server CPU per request; bars span the quartiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(results["cases"].items())[::-1]
    labels = [name for name, _ in cases]
    palette = {"open": "#888888", "floor": "#55a868", "package": "#c44e52"}
    colors = [palette.get(case["kind"], "#3b75af") for _, case in cases]
    with_cpu = all(case["median"]["cpu_us"] for _, case in cases)
    figure, axes = plt.subplots(
        1,
        2 if with_cpu else 1,
        figsize=(13 if with_cpu else 9, 1.6 + 0.3 * len(cases)),
        dpi=90,
        squeeze=False,
    )
    panels = [("rps", "rps_quartiles", "requests per second")]
    if with_cpu:
        panels.append(("cpu_us", "cpu_us_quartiles", "server CPU µs per request (less is better)"))
    for axis, (name, spread, title) in zip(axes[0], panels, strict=False):
        middles = [case["median"][name] for _, case in cases]
        low = [case["median"][name] - case[spread][0] for _, case in cases]
        high = [case[spread][1] - case["median"][name] for _, case in cases]
        axis.barh(labels, middles, xerr=[low, high], color=colors, capsize=2)
        for index, (_, case) in enumerate(cases):
            middle = case["median"]
            text = f"{middle[name]:.0f}"
            if name == "rps":
                text += f"   p50 {middle['p50_ms']:.1f} ms, p99 {middle['p99_ms']:.1f} ms"
            end = max(middle[name], case[spread][1])  # right of the bar and its error bar
            axis.text(end + max(middles) * 0.02, index, text, va="center", fontsize=7)
        ends = [case[spread][1] for _, case in cases]
        axis.set_xlim(0, max(ends) * (1.5 if name == "rps" else 1.15))
        axis.set_xlabel(title, fontsize=9)
        axis.tick_params(axis="y", labelsize=7)
    if with_cpu:
        axes[0][1].set_yticklabels([])
    settings, machine = results["settings"], results["machine"]
    figure.suptitle(
        f"{results['date'][:10]}, template {results['template_revision']}: "
        f"{settings['rounds']} round(s) of {settings['seconds']} s per case; gunicorn "
        f"{settings['gunicorn_workers']} workers, wrk {settings['connections']} connections; "
        f"{machine['nproc']} x {machine['cpu_model']}, Python {machine['python']}, "
        f"Django {machine['django']}\nmedian of the rounds; the error bars span their quartiles",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
