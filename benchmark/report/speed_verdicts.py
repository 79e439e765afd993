"""The speed verdicts from the suite's speed phase (``OUT/speed/speed.json``, written by ``benchmark.speed``).

Two comparisons per (model, batch size), both between PyTorch and Keras:

* **as users run them by default**: each framework's default execution mode (the registry's ``default`` entry:
  PyTorch eager against Keras' default on every backend timed);
* **each on its fastest path**: each framework family's lowest median over every mode timed.

A ratio of medians comes with the interval of ratios that the two medians' confidence intervals allow (the lowest
and the highest quotient of their bounds): when that interval holds 1 the windows cannot tell the two apart, and
the verdict says so instead of naming a winner. Every row states its spread across repeated windows.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark import runs
from benchmark.frameworks import FRAMEWORKS, KERAS, PYTORCH
from benchmark.speed import SPEED_DIR, SPEED_JSON


def read_speed(out: Path) -> dict | None:
    """The suite's speed phase, or None when it did not run."""
    report = runs.read_json(Path(out) / SPEED_DIR / SPEED_JSON, None)
    return report if isinstance(report, dict) and report.get("results") else None


def mode_name(row: dict) -> str:
    """A speed row's framework and mode as tables and plots name it (the registry's ``pretty``)."""
    entry = FRAMEWORKS.get(row["framework"])
    return entry.pretty if entry else row["framework"]


def _timed(report: dict) -> list[dict]:
    return [row for row in report["results"] if row.get("status") == "ok"]


def _spread(row: dict) -> tuple[float, float, int]:
    """The fastest and slowest kept window (ms/iteration) and how many were kept."""
    kept = [w["ms_per_iteration"] for w in row.get("windows", []) if not w.get("discarded")]
    return (min(kept), max(kept), len(kept)) if kept else (row["median_ms"], row["median_ms"], 0)


def speed_table(report: dict) -> pd.DataFrame:
    """One row per timed (model, batch size, mode): the median, its interval, the windows' spread, rates,
    compile time, distance from the floor and contention."""
    rows = []
    for row in report["results"]:
        base = {"model": row["model"], "batch": row["batch_size"], "framework (mode)": mode_name(row)}
        if row.get("status") != "ok":
            rows.append({**base, "ms / iteration (median)": "failed: " + str(row.get("error", ""))[:100]})
            continue
        fastest, slowest, kept = _spread(row)
        entry = FRAMEWORKS.get(row["framework"])
        rows.append({
            **base, "default": "yes" if entry and entry.default else "no",
            "ms / iteration (median)": f"{row['median_ms']:.2f}",
            "interval of the median": f"{row['ci_low_ms']:.2f}–{row['ci_high_ms']:.2f} ({row['ci_confidence']:.0%})",
            "windows: fastest–slowest (n)": f"{fastest:.2f}–{slowest:.2f} ({kept})",
            "iterations/s": f"{row['iterations_per_second']:.1f}",
            "compile s": "—" if row.get("compile_seconds") is None else f"{row['compile_seconds']:.1f}",
            "× floor": "—" if row.get("times_floor") is None else f"{row['times_floor']:.0f} ({row['floor']})",
            "contended windows": row.get("contended_windows", 0),
        })
    return pd.DataFrame(rows)


def compare(pytorch: dict, keras: dict) -> str:
    """One sentence: which of two timed rows is faster and by how much, or that their intervals overlap."""
    ratio = keras["median_ms"] / pytorch["median_ms"]
    low, high = keras["ci_low_ms"] / pytorch["ci_high_ms"], keras["ci_high_ms"] / pytorch["ci_low_ms"]
    medians = (f"{mode_name(pytorch)} {pytorch['median_ms']:.2f} vs {mode_name(keras)} {keras['median_ms']:.2f} "
               f"ms/iteration, Keras/PyTorch time ratio {ratio:.2f} [{low:.2f}, {high:.2f}]")
    contended = sum(row.get("contended_windows", 0) for row in (pytorch, keras))
    if contended:
        medians += f"; {contended} of their windows were contended: read with care"
    if low <= 1.0 <= high:
        return f"no clear difference ({medians}: the intervals overlap)"
    faster, factor = (mode_name(pytorch), ratio) if ratio > 1 else (mode_name(keras), 1 / ratio)
    return f"**{faster}** is {factor:.2f}× faster ({medians})"


def verdicts(report: dict) -> list[str]:
    """The two verdicts for every (model, batch size) timed with both families."""
    lines = []
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in _timed(report):
        groups.setdefault((row["model"], row["batch_size"]), []).append(row)
    for (model, batch), rows in groups.items():
        by_family = {family: [r for r in rows if r["family"] == family] for family in (PYTORCH, KERAS)}
        if not all(by_family.values()):
            continue
        defaults = {family: [r for r in members if FRAMEWORKS[r["framework"]].default]
                    for family, members in by_family.items()}
        parts = [compare(defaults[PYTORCH][0], keras) for keras in defaults[KERAS] if defaults[PYTORCH]]
        fastest = {family: min(members, key=lambda r: r["median_ms"]) for family, members in by_family.items()}
        lines.append(f"`{model}`, batch {batch} — **as users run them by default**: "
                     + ("; ".join(parts) or "a default mode was not timed")
                     + f". **Each on its fastest path** ({mode_name(fastest[PYTORCH])}, {mode_name(fastest[KERAS])}): "
                     + compare(fastest[PYTORCH], fastest[KERAS]) + ".")
    return lines


def settings_text(report: dict) -> str:
    env, settings = report.get("environment", {}), report.get("settings", {})
    gpus = ", ".join(env.get("gpus") or []) or "none"
    return (f"Timed apart from the training runs, after them, one worker process per mode (the frameworks never "
            f"share one): {settings.get('windows')} windows of {settings.get('iterations_per_window')} iterations "
            f"per mode after {settings.get('warmup_iterations')} warm-up iterations, interleaved round-robin across "
            f"the modes; CPU {env.get('cpu')} ({env.get('cpu_count')} cores), GPU {gpus}, "
            f"{env.get('threads')} thread(s) per framework. The median's interval is distribution-free (order "
            f"statistics) at the confidence shown; a window during which other processes used more than "
            f"{settings.get('contention_threshold', 0):.0%} of the CPU was timed again up to "
            f"{settings.get('retries')} time(s), then kept and counted as contended. × floor: the median over the "
            f"floor measured in the same run (an empty step through the same execution path, or a GPU iteration's "
            f"device time). Compile time: the first call of the compiled iteration (tracing, compiling and one "
            f"execution), the same for every mode. The quality runs' own timings (per-model tables) come from runs "
            f"trained side by side and are not the verdict.")
