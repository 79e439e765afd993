"""The speed verdicts from the suite's speed phase (``OUT/speed/speed.json``, written by ``benchmark.speed``).

Two comparisons per (model, batch size), both between PyTorch and Keras:

* **as users run them by default**: each framework's default execution mode (the registry's ``default`` entry:
  PyTorch eager against Keras' default on every backend timed);
* **each on its fastest path**: each framework family's lowest median over every mode timed.

When Keras' ``fit`` mode was timed (``keras-tf-fit``, ``keras-jax-fit``), the default comparison is made with it,
as Keras users write a GAN (PyTorch's eager loop against ``Model.fit``), the project's stateless Keras step stands
beside it, and the cost of the idiom is stated per backend: the fit / stateless time ratio with its interval, and
the ratio of each pair of worker processes (process k of both modes ran in the same round, interleaved): below
``INTERVAL_MIN_PAIRS`` pairs those values and their range, from there on a bootstrap interval of their mean.

A ratio of medians comes with the interval of ratios that the two medians' intervals allow (the lowest and the
highest quotient of their bounds; each interval is the median's order-statistic interval widened to the medians of
the mode's separate worker processes): when that interval holds 1 the measurements cannot tell the two apart, and
the verdict says so instead of naming a winner. Every row states its spread across windows and across processes,
and its worker's CPU time / wall time: a window on more cores than its threads never counts.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark import runs
from benchmark.frameworks import FRAMEWORKS, KERAS, PYTORCH
from benchmark.report.stats import CONFIDENCE, INTERVAL_MIN_PAIRS, bootstrap_ci
from benchmark.speed import SPEED_DIR, SPEED_JSON, counted

FIT_MODE = "fit"  # Keras' Model.fit: the mode that stands for Keras "as users run it" when it was timed


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
    """The fastest and slowest counted window (ms/iteration) and how many counted."""
    kept = [w["ms_per_iteration"] for w in row.get("windows", []) if counted(w)]
    return (min(kept), max(kept), len(kept)) if kept else (row["median_ms"], row["median_ms"], 0)


def speed_table(report: dict) -> pd.DataFrame:
    """One row per timed (model, batch size, mode): the median, its interval, the windows' spread, rates,
    compile time, distance from the floor and contention."""
    rows = []
    for row in report["results"]:
        base = {"model": row["model"], "batch": row["batch_size"], "framework (mode)": mode_name(row)}
        if row.get("status") != "ok":
            rows.append({**base, "ms / iteration (median)": f"{row.get('status')}: " + str(row.get("error", ""))[:160]})
            continue
        fastest, slowest, kept = _spread(row)
        entry = FRAMEWORKS.get(row["framework"])
        rows.append({
            **base, "default": "yes" if entry and entry.default else "no",
            "ms / iteration (median)": f"{row['median_ms']:.2f}",
            "interval of the median": f"{row['ci_low_ms']:.2f}–{row['ci_high_ms']:.2f} ({row['ci_confidence']:.0%})",
            "windows: fastest–slowest (n)": f"{fastest:.2f}–{slowest:.2f} ({kept})",
            "process medians": ", ".join(f"{m:.2f}" for m in row.get("process_medians_ms", [])) or "—",
            "CPU/wall (max)": "—" if row.get("max_cpu_per_wall") is None else f"{row['max_cpu_per_wall']:.2f}",
            "windows over threads": row.get("over_threads_windows", 0),
            "iterations/s": f"{row['iterations_per_second']:.1f}",
            "compile s": "—" if row.get("compile_seconds") is None else f"{row['compile_seconds']:.1f}",
            "× floor": "—" if row.get("times_floor") is None else f"{row['times_floor']:.0f} ({row['floor']})",
            "contended windows": row.get("contended_windows", 0),
        })
    return pd.DataFrame(rows)


def ratio(pytorch: dict, keras: dict) -> tuple[float, float, float]:
    """Keras/PyTorch time ratio of two timed rows with the lowest and highest quotient their intervals allow."""
    return (keras["median_ms"] / pytorch["median_ms"], keras["ci_low_ms"] / pytorch["ci_high_ms"],
            keras["ci_high_ms"] / pytorch["ci_low_ms"])


def short_verdict(pytorch: dict, keras: dict) -> str:
    """"**Keras (JAX)** 1.32× faster than PyTorch [1.21, 1.40]" or "no clear difference (Keras (JAX)/PyTorch 0.97
    [0.90, 1.05])": the summary's cell."""
    value, low, high = ratio(pytorch, keras)
    if low <= 1.0 <= high:
        return f"no clear difference ({mode_name(keras)}/{mode_name(pytorch)} {value:.2f} [{low:.2f}, {high:.2f}])"
    faster, slower, factor, bounds = ((mode_name(pytorch), mode_name(keras), value, (low, high)) if value > 1
                                      else (mode_name(keras), mode_name(pytorch), 1 / value, (1 / high, 1 / low)))
    return f"**{faster}** {factor:.2f}× faster than {slower} [{bounds[0]:.2f}, {bounds[1]:.2f}]"


def process_ratios(reference: dict, other: dict) -> list[float]:
    """``other``'s / ``reference``'s median of each worker process, process k with process k (the same round)."""
    return [b / a for a, b in zip(reference.get("process_medians_ms") or [], other.get("process_medians_ms") or [])]


def pairs_text(values: list[float]) -> str:
    """"1.15, 1.72 (range 1.15–1.72; 2 pairs: no confidence interval below 5)", or from ``INTERVAL_MIN_PAIRS``
    pairs "mean 1.20, 95 % bootstrap interval [1.15, 1.26] (5 pairs: 1.15, ...)"."""
    listed = ", ".join(f"{v:.2f}" for v in values)
    if len(values) >= INTERVAL_MIN_PAIRS:
        low, high = bootstrap_ci(values)
        return (f"mean {sum(values) / len(values):.2f}, {CONFIDENCE:.0%} bootstrap interval [{low:.2f}, {high:.2f}] "
                f"({len(values)} pairs: {listed})")
    if len(values) >= 2:
        return (f"{listed} (range {min(values):.2f}–{max(values):.2f}; {len(values)} pairs: no confidence interval "
                f"below {INTERVAL_MIN_PAIRS})")
    return f"{listed} (one pair)"


def idiom_cost(stateless: dict, fit: dict) -> str:
    """"Keras fit (TensorFlow) 65.14 vs Keras (TensorFlow) 35.10 ms/iteration, fit/stateless time ratio 1.86
    [1.15, 1.95] (slower); per pair of worker processes 1.82, 1.92 (range ...)": what Model.fit costs."""
    value, low, high = ratio(stateless, fit)
    verdict = "no clear difference" if low <= 1.0 <= high else ("slower" if value > 1 else "faster")
    text = (f"{mode_name(fit)} {fit['median_ms']:.2f} vs {mode_name(stateless)} {stateless['median_ms']:.2f} "
            f"ms/iteration, fit/stateless time ratio {value:.2f} [{low:.2f}, {high:.2f}] ({verdict})")
    pairs = process_ratios(stateless, fit)
    return text + (f"; per pair of worker processes (same round) {pairs_text(pairs)}" if pairs else "")


def short_idiom(stateless: dict, fit: dict) -> str:
    """"fit/stateless (TensorFlow) 1.17 [1.00, 1.81]": the summary's cell."""
    value, low, high = ratio(stateless, fit)
    return f"fit/stateless ({FRAMEWORKS[fit['framework']].backend}) {value:.2f} [{low:.2f}, {high:.2f}]"


def compare(pytorch: dict, keras: dict) -> str:
    """One sentence: which of two timed rows is faster and by how much, or that their intervals overlap."""
    value, low, high = ratio(pytorch, keras)
    medians = (f"{mode_name(pytorch)} {pytorch['median_ms']:.2f} vs {mode_name(keras)} {keras['median_ms']:.2f} "
               f"ms/iteration, Keras/PyTorch time ratio {value:.2f} [{low:.2f}, {high:.2f}]")
    contended = sum(row.get("contended_windows", 0) for row in (pytorch, keras))
    if contended:
        medians += f"; {contended} of their windows were contended: read with care"
    if low <= 1.0 <= high:
        return f"no clear difference ({medians}: the intervals overlap)"
    faster, factor = (mode_name(pytorch), value) if value > 1 else (mode_name(keras), 1 / value)
    return f"**{faster}** is {factor:.2f}× faster ({medians})"


def comparisons(report: dict) -> dict[tuple[str, int], dict]:
    """Per (model, batch size) timed in both families: ``default`` (PyTorch's default row against each Keras
    default row) and ``fastest`` (each family's lowest median)."""
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in _timed(report):
        groups.setdefault((row["model"], row["batch_size"]), []).append(row)
    found = {}
    for key, rows in groups.items():
        by_family = {family: [r for r in rows if r["family"] == family] for family in (PYTORCH, KERAS)}
        if not all(by_family.values()):
            continue
        defaults = {family: [r for r in members if FRAMEWORKS[r["framework"]].default]
                    for family, members in by_family.items()}
        fastest = {family: min(members, key=lambda r: r["median_ms"]) for family, members in by_family.items()}
        fits = [r for r in by_family[KERAS] if FRAMEWORKS[r["framework"]].mode == FIT_MODE]
        stateless = {FRAMEWORKS[r["framework"]].backend: r for r in defaults[KERAS]}
        found[key] = {"default": [(defaults[PYTORCH][0], keras) for keras in defaults[KERAS] if defaults[PYTORCH]],
                      "fit": [(defaults[PYTORCH][0], fit) for fit in fits if defaults[PYTORCH]],
                      "idiom": [(stateless[FRAMEWORKS[fit["framework"]].backend], fit) for fit in fits
                                if FRAMEWORKS[fit["framework"]].backend in stateless],
                      "fastest": (fastest[PYTORCH], fastest[KERAS])}
    return found


def verdicts(report: dict) -> list[str]:
    """The two verdicts for every (model, batch size) timed with both families."""
    lines = []
    for (model, batch), found in comparisons(report).items():
        parts = [compare(pytorch, keras) for pytorch, keras in found["default"]]
        if found["fit"]:
            default = ("**as users run them by default** (PyTorch: its eager loop; Keras: Model.fit): "
                       + "; ".join(compare(pytorch, fit) for pytorch, fit in found["fit"])
                       + ". The project's stateless Keras step beside it: " + ("; ".join(parts) or "not timed")
                       + ". **The cost of Keras' idiom**: " + ("; ".join(idiom_cost(stateless, fit)
                                                                       for stateless, fit in found["idiom"])
                                                             or "the stateless step was not timed"))
        else:
            default = "**as users run them by default**: " + ("; ".join(parts) or "a default mode was not timed")
        pytorch, keras = found["fastest"]
        lines.append(f"`{model}`, batch {batch} — " + default
                     + f". **Each on its fastest path** ({mode_name(pytorch)}, {mode_name(keras)}): "
                     + compare(pytorch, keras) + ".")
    return lines


def settings_text(report: dict) -> str:
    env, settings = report.get("environment", {}), report.get("settings", {})
    gpus = ", ".join(env.get("gpus") or []) or "none"
    return (f"Timed apart from the training runs, after them, on {report.get('date', 'an unrecorded date')}: "
            f"{settings.get('processes', 1)} worker process(es) per mode, one after the other (the frameworks never "
            f"share one), each with {settings.get('windows')} windows of {settings.get('iterations_per_window')} "
            f"iterations after {settings.get('warmup_iterations')} warm-up iterations, interleaved round-robin across "
            f"the modes; CPU {env.get('cpu')} ({env.get('cpu_count')} cores), GPU {gpus}, "
            f"{env.get('threads')} thread(s) per framework, each worker pinned to that many cores (CPU affinity); a "
            f"window whose worker's CPU time exceeded its threads × wall time by more than "
            f"{settings.get('cpu_tolerance', 0.1):.0%} does not count. The median's interval is distribution-free "
            f"(order statistics) at the confidence shown, widened to the medians of the separate processes; a window "
            f"during which other processes used more than "
            f"{settings.get('contention_threshold', 0):.0%} of the CPU was timed again up to "
            f"{settings.get('retries')} time(s), then kept and counted as contended. × floor: the median over the "
            f"floor measured in the same run (an empty step through the same execution path, or a GPU iteration's "
            f"device time). Compile time: the first call of the compiled iteration (tracing, compiling and one "
            f"execution), the same for every mode. The quality runs' own timings (per-model tables) come from runs "
            f"trained side by side and are not the verdict.")
