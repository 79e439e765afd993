"""The toy profile's report: ``OUT/report.md`` with distance curves, paired verdicts, convergence counts, timing and
one animated GIF per framework (the same seed), from the files ``benchmark.toy_suite`` leaves (no framework import).

    python -m benchmark.report.toy OUT

Numbers: final measures as mean ± std over seeds; the paired difference of the final W1 per seed with a bootstrap
interval and a paired test (``benchmark.report.stats``); a seed has converged when its final W1 is at most
``CONVERGED_STDS`` target standard deviations (0.25 for N(4, 1.25²): about five times the W1 between two samples
of the target itself at the report's 2,000 points, and a fifteenth of an untrained generator's).
"""
from __future__ import annotations

import itertools
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.animation import FuncAnimation, PillowWriter  # noqa: E402

from benchmark import datasets, runs, toy_measures as tm, toy_training  # noqa: E402
from benchmark.frameworks import by_name  # noqa: E402
from benchmark.report import stats  # noqa: E402
from benchmark.spec import get_spec  # noqa: E402

CONVERGED_STDS = 0.2  # converged: final W1 <= this many target standard deviations
REFERENCE_SEED, REFERENCE_DRAWS = 20_261_130, 10
CURVES = ((tm.W1, "W1 to the target", True), (tm.KS, "KS statistic", True), (tm.MEAN_ERROR, "mean error", False),
          (tm.STD_ERROR, "std error", False), (tm.D_MAX, "max |D(x) - 0.5| on the grid", False))
GIF_FPS, HISTOGRAM_BINS = 4, 60


def load(out: Path) -> dict[str, dict]:
    """``{framework name: {"run": run.json, "seeds": {seed: arrays}}}`` for every framework folder with a run.json,
    in the suite's order when ``toy_suite.json`` names it."""
    suite = runs.read_json(out / "toy_suite.json", {})
    names = suite.get("frameworks") or sorted(p.parent.name for p in out.glob(f"*/{toy_training.RUN_FILE}"))
    loaded = {}
    for name in names:
        folder = out / name
        if not (folder / toy_training.RUN_FILE).exists():
            continue
        run = runs.read_json(folder / toy_training.RUN_FILE)
        seeds = {}
        for seed in run["seeds"]:
            path = folder / toy_training.seed_file(seed)
            if path.exists():
                with np.load(path) as data:
                    seeds[seed] = dict(data)
        loaded[name] = {"run": run, "seeds": seeds}
    return loaded


def target_of(loaded: dict[str, dict]) -> datasets.Normal:
    return toy_training.target_of(get_spec(next(iter(loaded.values()))["run"]["model"]))


def reference_w1(target: datasets.Normal, samples: int) -> float:
    """The W1 between two independent target samples of ``samples`` points (mean of ``REFERENCE_DRAWS``): the
    floor a perfect generator's W1 sits on at this sample size."""
    draws = [tm.wasserstein1(target.sample(np.random.default_rng([REFERENCE_SEED, i, 0]), samples),
                             target.sample(np.random.default_rng([REFERENCE_SEED, i, 1]), samples))
             for i in range(REFERENCE_DRAWS)]
    return float(np.mean(draws))


def final_table(loaded: dict[str, dict], threshold: float) -> pd.DataFrame:
    """One row per (framework, seed): the final measures, status, iterations and ms per iteration."""
    rows = []
    for name, entry in loaded.items():
        for seed, arrays in entry["seeds"].items():
            iterations = int(arrays["iterations"])
            rows.append({"framework": name, "seed": seed, "status": str(arrays["status"]), "iterations": iterations,
                         "ms_per_iteration": 1e3 * float(arrays["seconds"]) / iterations if iterations else np.nan,
                         "untrained_w1": float(arrays[tm.W1][0]),
                         **{name_: float(arrays[name_][-1]) for name_, _, _ in CURVES},
                         "converged": bool(arrays[tm.W1][-1] <= threshold)})
    return pd.DataFrame(rows)


def pretty(name: str) -> str:
    framework = by_name(name)
    return framework.pretty if framework else name


def color(name: str) -> str | None:
    framework = by_name(name)
    return framework.color if framework else None


def plot_curves(loaded: dict[str, dict], threshold: float, reference: float, path: Path) -> Path:
    """Every measure over training: per framework the median over seeds, the interquartile band and the range."""
    fig, axes = plt.subplots(2, 3, figsize=(15, 8))
    for axis, (measure, title, log) in zip(axes.flat, CURVES):
        for name, entry in loaded.items():
            curves = [arrays[measure] for arrays in entry["seeds"].values()]
            length = min(len(c) for c in curves)  # a diverged seed stops early
            steps = next(iter(entry["seeds"].values()))["steps"][:length]
            values = np.array([c[:length] for c in curves], np.float64)
            low, q1, median, q3, high = np.nanpercentile(values, [0, 25, 50, 75, 100], axis=0)
            axis.plot(steps, median, color=color(name), label=f"{pretty(name)} (median of {len(curves)})")
            axis.fill_between(steps, q1, q3, color=color(name), alpha=0.25)
            axis.fill_between(steps, low, high, color=color(name), alpha=0.08)
        if measure == tm.W1:
            axis.axhline(threshold, color="grey", linestyle="--", label=f"converged: W1 ≤ {threshold:.3g}")
            axis.axhline(reference, color="black", linestyle=":", label=f"target vs itself {reference:.3f}")
        if log:
            axis.set_yscale("log")
        axis.set_title(title)
        axis.set_xlabel("iteration")
        axis.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    axes.flat[-1].axis("off")
    fig.suptitle("Median over seeds; band: interquartile range; faint band: min to max")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return path


def _frame_axes(target: datasets.Normal, x_axis: np.ndarray):
    fig, axis = plt.subplots(figsize=(6.4, 4))
    density_axis = axis.twinx()
    axis.set_xlim(x_axis[0], x_axis[-1])
    axis.set_ylim(0.0, 2.5 * float(target.density(target.mean)))
    density_axis.set_ylim(0.0, 1.0)
    axis.set_xlabel("x")
    axis.set_ylabel("density")
    density_axis.set_ylabel("D(x)")
    return fig, axis, density_axis


def draw_frame(axis, density_axis, target: datasets.Normal, arrays: dict, index: int, title: str) -> None:
    """Target density, the generator's density (histogram of its samples) and D(x), at measured step ``index``."""
    x_axis = arrays["grid"]
    ylim, dlim = axis.get_ylim(), density_axis.get_ylim()
    axis.clear()
    density_axis.clear()
    axis.plot(x_axis, target.density(x_axis), color="black", label="target")
    generated = arrays["generated"][index]
    axis.hist(generated[np.isfinite(generated)], bins=np.linspace(x_axis[0], x_axis[-1], HISTOGRAM_BINS),
              density=True, color="tab:orange", alpha=0.6, label="generator")
    density_axis.plot(x_axis, 1.0 / (1.0 + np.exp(-arrays["logits"][index].astype(np.float64))), color="tab:blue",
                      label="D(x)")
    density_axis.axhline(0.5, color="tab:blue", linestyle=":", linewidth=0.8)
    axis.set_xlim(x_axis[0], x_axis[-1])
    axis.set_ylim(*ylim)
    density_axis.set_ylim(*dlim)
    axis.set_title(f"{title}, iteration {int(arrays['steps'][index])}, W1 {arrays[tm.W1][index]:.3f}", fontsize=9)
    axis.legend(loc="upper left", fontsize=8)
    density_axis.legend(loc="upper right", fontsize=8)


def progress_gif(target: datasets.Normal, arrays: dict, title: str, gif: Path, still: Path) -> tuple[Path, Path]:
    """An animated GIF over every measured step (matplotlib's PillowWriter) and a PNG of its last frame."""
    fig, axis, density_axis = _frame_axes(target, arrays["grid"])
    frames = len(arrays["steps"])
    animation = FuncAnimation(fig, lambda i: draw_frame(axis, density_axis, target, arrays, i, title),
                              frames=frames)
    gif.parent.mkdir(parents=True, exist_ok=True)
    animation.save(gif, writer=PillowWriter(fps=GIF_FPS), dpi=70)
    draw_frame(axis, density_axis, target, arrays, frames - 1, title)
    fig.savefig(still, dpi=80, bbox_inches="tight")
    plt.close(fig)
    return gif, still


def paired_rows(table: pd.DataFrame, frameworks: list[str]) -> list[str]:
    """Markdown rows: every pair of frameworks, the per-seed difference of the final W1 (b − a)."""
    rows = []
    for a, b in itertools.combinations(frameworks, 2):
        differences = stats.paired_differences(table, tm.W1, b, a)
        test = stats.paired_test(differences.to_numpy())
        rows.append(f"| {pretty(b)} − {pretty(a)} | {len(differences)} | {stats.paired_text(differences, 3)} "
                    f"| {test.text} |")
    return rows


def framework_rows(table: pd.DataFrame, loaded: dict[str, dict], outcomes: dict[str, dict]) -> list[str]:
    rows = []
    for name, entry in loaded.items():
        run = entry["run"]
        part = table[table["framework"] == name]
        n = len(part)
        cells = [stats.mean_std(stats.numeric_values(part, measure), 3, n) for measure, _, _ in CURVES]
        completed = int((part["status"] == runs.COMPLETED).sum())
        rows.append(f"| {pretty(name)} | {completed}/{n} | {int(part['converged'].sum())}/{n} | " + " | ".join(cells)
                    + f" | {stats.number(float(part['ms_per_iteration'].median()), 3)} "
                    f"| {stats.number(run.get('process_cpu_seconds', float('nan')), 3)} "
                    f"| {stats.number(outcomes.get(name, {}).get('seconds', float('nan')), 3)} |")
    return rows


def build_report(out: str | Path) -> Path:
    """Write ``OUT/report.md`` and ``OUT/plots/``; return the report's path."""
    out = Path(out)
    loaded = {name: entry for name, entry in load(out).items() if entry["seeds"]}
    if not loaded:
        raise FileNotFoundError(f"{out}: no toy run (no <framework>/{toy_training.RUN_FILE} with a seed file)")
    suite = runs.read_json(out / "toy_suite.json", {})
    target = target_of(loaded)
    first = next(iter(loaded.values()))["run"]
    threshold, reference = CONVERGED_STDS * target.std, reference_w1(target, first["samples"])
    table = final_table(loaded, threshold)
    table.to_csv(out / "summary.csv", index=False)
    plots = out / "plots"
    curves = plot_curves(loaded, threshold, reference, plots / "toy_curves.png")
    shown_seed = min(set.intersection(*(set(entry["seeds"]) for entry in loaded.values())), default=None)
    animations = []
    for name, entry in loaded.items():
        if shown_seed is not None:
            gif, still = progress_gif(target, entry["seeds"][shown_seed], f"{pretty(name)}, seed {shown_seed}",
                                      plots / f"toy_{name}_seed{shown_seed}.gif",
                                      plots / f"toy_{name}_seed{shown_seed}_final.png")
            animations.append((name, gif, still))
    machine = suite.get("machine", {})
    cpu_total = sum(entry["run"].get("process_cpu_seconds", 0.0) for entry in loaded.values())
    lines = [
        f"# The toy GAN: {first['model']} (1-D Gaussian), {len(loaded)} framework modes × {len(first['seeds'])} seeds",
        "",
        f"Target N({target.mean:g}, {target.std:g}²); {first['steps']} iterations of batch {first['batch_size']}, "
        f"measured every {first['measure_every']} iterations on {first['samples']} fixed generator inputs against "
        f"as many fresh target samples. Converged: final W1 ≤ {threshold:.3g} ({CONVERGED_STDS:g} target standard "
        f"deviations). W1 of the target against itself at this sample size: {reference:.4f}; of the untrained "
        f"generators (iteration 0): median {table['untrained_w1'].median():.3f}.",
        "",
        f"Machine: {machine.get('cpu', '?')} ({machine.get('cpu_count', '?')} cores), {suite.get('jobs', '?')} "
        f"processes at a time with {suite.get('threads', '?')} thread(s) each, started {suite.get('started', '?')}; "
        f"training wall time {suite.get('wall_seconds', '?')} s; other processes used "
        f"{stats.number(100 * suite['other_cpu_share'], 3) if suite.get('other_cpu_share') is not None else '?'} % "
        f"of the CPU meanwhile (timings taken on a shared machine measure the sharing too).",
        "",
        "## Final measures (mean ± std over seeds)",
        "",
        "| framework | completed | converged | W1 | KS | mean error | std error | max abs(D − 0.5) | ms / iteration "
        "(median over seeds, wall) | process CPU s | process wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
        *framework_rows(table, loaded, suite.get("outcomes", {})),
        "",
        f"CPU time of the whole toy (every process, imports and compilation included): {cpu_total:.0f} s, so at "
        f"least {cpu_total / 2:.0f} s of wall time on 2 idle cores. The wall-clock columns (ms / iteration, process "
        f"wall) include waiting for the CPU while other processes ran.",
        "",
        "## Paired difference of the final W1 (same seed: same initial weights, samples and noise)",
        "",
        stats.detectable_text(len(first["seeds"])),
        "",
        "| difference | pairs | mean [95 % bootstrap interval]; per seed | test |",
        "|---|---|---|---|",
        *paired_rows(table, list(loaded)),
        "",
        "## Over training",
        "",
        f"![distances over training](plots/{curves.name})",
        "",
        f"## Seed {shown_seed}: target density (black), the generator's (orange) and D(x) (blue)",
        "",
        *[f"**{pretty(name)}**: [animation](plots/{gif.name})\n\n![{pretty(name)} final frame](plots/{still.name})\n"
          for name, gif, still in animations],
        "Reproduce: `python benchmark/run_all.py --profile toy`; one framework alone: "
        "`python -m pytorch_impl.toy --model toy-1k --seeds 0,1 --out OUT/pytorch` (`tensorflow_impl.toy` with "
        "`--backend tensorflow|jax`), then `python -m benchmark.report.toy OUT`.",
    ]
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m benchmark.report.toy OUT")
    print(build_report(sys.argv[1]))
