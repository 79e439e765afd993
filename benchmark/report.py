"""The suite report: ``report.md``, a self-contained ``report.html``, ``summary.csv`` and ``plots/``.

    python -m benchmark.report OUT [--parity-dir results/parity]

Reads only files: ``OUT/suite.json`` (the harness's record of every run, failures included) and each run
folder (``benchmark.runs``: config, metrics, timing, result, samples, grids; ``benchmark.evaluate``'s
eval.json and curve.json), plus the lockstep parity files when they exist. No framework is imported.

Every number is a mean ± standard deviation (ddof 1) over seeds with the number of seeds; PyTorch and Keras
are compared with Welch's two-sided t-test (unequal variances, ``scipy.stats.ttest_ind(equal_var=False)``)
where both sides have at least two seeds, and the report says "n/a" otherwise.
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import io
import json
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402
from scipy import stats  # noqa: E402

from benchmark import eval_format as ev  # noqa: E402  (file names and keys; no torch)
from benchmark import runs  # noqa: E402
from benchmark.profiles import Profile  # noqa: E402
from benchmark.suite import FRAMEWORKS, RUNS_DIR, SUITE_FILE  # noqa: E402

REPORT_MD, REPORT_HTML, SUMMARY_CSV, PLOTS_DIR = "report.md", "report.html", "summary.csv", "plots"
DEFAULT_PARITY_DIR = Path(__file__).resolve().parent.parent / "results" / "parity"
LOCKSTEP_FILE, DEFAULTS_AUDIT_FILE = "lockstep.json", "defaults_audit.json"
ALPHA = 0.05
CONTENTION_SHARE = 0.10  # CPU share of other processes above which a run's timings are flagged
GRID_IMAGES = 64
FRAMEWORK_ORDER = tuple(FRAMEWORKS)
COLORS = {"pytorch": "#ee4c2c", "keras-tensorflow": "#1f77b4", "keras-jax": "#2ca02c"}
PRETTY = {"pytorch": "PyTorch", "keras-tensorflow": "Keras (TensorFlow)", "keras-jax": "Keras (JAX)"}


@dataclass(frozen=True)
class Metric:
    column: str
    label: str
    better: str  # "lower", "higher" or "" (no direction)
    digits: int = 4
    spread: str | None = None  # column of the metric's own standard deviation (IS over splits, KID over subsets)


QUALITY = (
    Metric("mnist_fid", "MNIST-FID", "lower"),
    Metric("mnist_is_mean", "MNIST-IS", "higher", spread="mnist_is_std"),
    Metric("mnist_kid_mean", "MNIST-KID", "lower", spread="mnist_kid_std"),
    Metric("mnist_precision", "precision (MNIST features)", "higher"),
    Metric("mnist_recall", "recall (MNIST features)", "higher"),
    Metric("inception_fid", "Inception FID", "lower"),
    Metric("inception_is_mean", "Inception IS", "higher", spread="inception_is_std"),
    Metric("inception_kid_mean", "Inception KID", "lower", spread="inception_kid_std"),
    Metric("digits_covered", "digits covered (of 10)", "higher"),
    Metric("kl_to_uniform", "KL(digit histogram ‖ uniform), nats", "lower"),
)
SPEED = (
    Metric("train_seconds", "training time, s", "lower"),
    Metric("compile_seconds", "compile (before the first iteration), s", "lower"),
    Metric("warmup_seconds", "warm-up (first 5 iterations), s", "lower"),
    Metric("setup_seconds", "process set-up (imports, data, models, compile), s", "lower"),
    Metric("steady_ms_per_step", "steady-state ms / iteration", "lower"),
    Metric("images_per_second", "steady-state real images / s", "higher"),
)
INCEPTION_COLUMNS = ("inception_fid", "inception_is_mean", "inception_kid_mean")


# ------------------------------------------------------------------------------------------ collection

def _read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text()) if path.is_file() else default
    except (json.JSONDecodeError, OSError):
        return default


def framework_label(config: dict) -> str:
    """``pytorch`` / ``keras-<backend>`` from a run's config.json."""
    framework = config.get("framework") or ""
    if framework.startswith("keras") or framework in ("tensorflow", "tensorflow_impl"):
        return f"keras-{config.get('backend') or 'tensorflow'}" if framework != "keras-jax" else framework
    return framework


def _sum(*values) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return float(sum(numbers)) if numbers else None


def _get(block: dict | None, key: str):
    value = (block or {}).get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def eval_columns(evaluation: dict) -> dict:
    """The summary columns of one eval.json (or one reference set, which has the same blocks)."""
    mnist, inception = evaluation.get(ev.KEY_MNIST), evaluation.get(ev.KEY_INCEPTION) or {}
    cover = evaluation.get(ev.KEY_COVERAGE) or {}
    return {
        "num_samples_scored": evaluation.get(ev.KEY_NUM_SAMPLES),
        **{f"mnist_{key}": _get(mnist, key) for key in ev.MNIST_KEYS},
        "inception_available": bool(inception.get(ev.KEY_AVAILABLE)) if evaluation else None,
        "inception_reason": inception.get(ev.KEY_REASON),
        "inception_official_weights": inception.get(ev.KEY_OFFICIAL_WEIGHTS),
        **{f"inception_{key}": _get(inception, key) if inception.get(ev.KEY_OFFICIAL_WEIGHTS) else None
           for key in ev.INCEPTION_KEYS},
        "digits_covered": _get(cover, ev.KEY_DIGITS_COVERED),
        "kl_to_uniform": _get(cover, ev.KEY_KL_TO_UNIFORM),
    }


def run_row(run_dir: Path, record: dict | None) -> dict:
    """One summary.csv row from a run folder and the suite's record of it (either may be incomplete)."""
    record = record or {}
    config = _read_json(run_dir / runs.CONFIG, {})
    timing = _read_json(run_dir / runs.TIMING, {})
    result = _read_json(run_dir / runs.RESULT, {})
    evaluation = _read_json(run_dir / ev.EVAL_FILE, {})
    curve = _read_json(run_dir / ev.CURVE_FILE, [])
    environment = config.get("environment", {})
    per_step = timing.get("steady_seconds_per_step")
    status = record.get("status") or result.get("status") or "unknown"
    row = {
        "run": record.get("name") or run_dir.name,
        "model": record.get("model") or config.get("model"),
        "framework": record.get("framework") or framework_label(config),
        "seed": record.get("seed", config.get("seed")),
        "status": status,
        "exit_code": record.get("exit_code", result.get("exit_code")),
        "exit": record.get("exit"),
        "steps_planned": record.get("steps") or config.get("steps"),
        "steps_done": result.get("step"),
        "epochs": config.get("epochs"),
        "batch_size": config.get("batch_size"),
        "train_seconds": timing.get("train_seconds"),
        "setup_seconds": timing.get("setup_seconds"),
        "compile_seconds": environment.get("compile_seconds"),
        "warmup_seconds": timing.get("warmup_seconds"),
        "startup_seconds": _sum(environment.get("compile_seconds"), timing.get("warmup_seconds")),
        "steady_ms_per_step": per_step * 1000 if per_step else None,
        "images_per_second": timing.get("images_per_second"),
        "process_seconds": timing.get("total_seconds"),
        "train_wall_seconds": record.get("train_wall_seconds"),
        "other_cpu_share": record.get("other_cpu_share"),
        "eval_wall_seconds": record.get("eval_wall_seconds"),
        "eval_exit_code": record.get("eval_exit_code"),
        "evaluated": bool(evaluation),
        **eval_columns(evaluation),
        "curve_points": len(curve),
        "curve_last_mnist_fid": curve[-1][ev.KEY_MNIST_FID] if curve else None,
        "device": environment.get("device"),
        "device_name": environment.get("device_name"),
        "determinism": environment.get("determinism"),
        "backend": config.get("backend"),
        "git_commit": config.get("git_commit"),
        "run_dir": str(run_dir),
        "log_tail": "\n".join(record.get("log_tail") or record.get("eval_log_tail") or []),
    }
    return row


@dataclass
class SuiteData:
    out: Path
    suite: dict
    table: pd.DataFrame
    run_dirs: dict[str, Path] = field(default_factory=dict)
    references: dict[str, dict] = field(default_factory=dict)  # REFERENCE_REAL / _NOISE -> eval_columns

    @property
    def frameworks(self) -> list[str]:
        present = set(self.table["framework"].dropna()) if len(self.table) else set()
        planned = self.suite.get("options", {}).get("frameworks") or []
        ordered = [f for f in list(planned) + list(FRAMEWORK_ORDER) if f in present]
        return list(dict.fromkeys(ordered + sorted(present - set(ordered))))

    @property
    def models(self) -> list[str]:
        planned = self.suite.get("options", {}).get("models") or []
        present = list(dict.fromkeys(self.table["model"].dropna())) if len(self.table) else []
        return list(dict.fromkeys([m for m in planned if m in present] + present))


def collect(out: Path) -> SuiteData:
    """Every planned run (from suite.json) and every run folder found, one row each."""
    out = Path(out)
    suite = _read_json(out / SUITE_FILE, {})
    records = suite.get("runs", {})
    names = list(dict.fromkeys(list(suite.get("plan", [])) + list(records)
                               + sorted(p.name for p in (out / RUNS_DIR).glob("*") if p.is_dir())))
    rows, run_dirs = [], {}
    for name in names:
        record = records.get(name)
        run_dir = out / (record.get("run_dir") if record else f"{RUNS_DIR}/{name}")
        if record is None and not (run_dir / runs.CONFIG).exists():
            if name in suite.get("plan", []):
                rows.append({"run": name, "status": "pending"})
            continue
        row = run_row(run_dir, record)
        row["run_dir"] = str(run_dir.relative_to(out)) if run_dir.is_relative_to(out) else str(run_dir)
        rows.append(row)
        run_dirs[name] = run_dir
    table = pd.DataFrame(rows)
    for column in ("model", "framework", "seed", "status"):
        if column not in table:
            table[column] = None
    return SuiteData(out, suite, table, run_dirs, read_references(out, table, suite))


def read_references(out: Path, table: pd.DataFrame, suite: dict) -> dict[str, dict]:
    """The reference rows scored at the runs' sample count (``benchmark.references``), else {}."""
    counts = pd.to_numeric(table.get("num_samples_scored", pd.Series(dtype=float)), errors="coerce").dropna()
    profile = suite.get("profile", {})
    count = int(counts.mode().iloc[0]) if len(counts) else profile.get("num_samples")
    if not count:
        return {}
    name = ev.reference_file_name(count, profile.get("reference_count") or ev.DEFAULT_REFERENCE_COUNT)
    sets = _read_json(out / ev.REFERENCES_DIR / name, {}).get(ev.KEY_SETS, {})
    return {key: eval_columns(sets[key]) for key in ev.REFERENCE_SETS if isinstance(sets.get(key), dict)}


# ---------------------------------------------------------------------------------------- statistics

def _values(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.array([])
    return pd.to_numeric(frame[column], errors="coerce").dropna().to_numpy(dtype=float)


def _number(value: float, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if value != 0 and (abs(value) >= 10 ** max(digits, 5) or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def mean_std(values: np.ndarray, digits: int = 4, seeds: int | None = None) -> str:
    """"m ± s" (ddof 1) for n ≥ 2, "m" for n = 1, "—" for none; "(n=k)" when fewer than ``seeds`` values."""
    if len(values) == 0:
        return "—"
    text = _number(values.mean(), digits)
    if len(values) > 1:
        text += f" ± {_number(0.0 if _constant(values) else values.std(ddof=1), 2)}"
    if seeds is not None and len(values) != seeds:
        text += f" (n={len(values)})"
    return text


def welch(a: np.ndarray, b: np.ndarray) -> tuple[float | None, str]:
    """Welch's two-sided t-test: (p or None, text). Needs two values a side and some variance."""
    if len(a) == 0 or len(b) == 0:
        return None, "n/a"
    if len(a) < 2 or len(b) < 2:
        return None, "n/a (1 seed)"
    if _constant(a) and _constant(b):
        if np.isclose(a.mean(), b.mean(), rtol=1e-9, atol=0.0):
            return 1.0, "p = 1 (identical)"
        return 0.0, "p ≈ 0 (no variance)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # near-constant samples: scipy warns, the p is still valid
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
    return p, f"p = {p:.3g}" + (" (significant)" if p < ALPHA else "")


def _constant(values: np.ndarray) -> bool:
    """No variance beyond floating-point noise (0.7 stored as 0.7000000000000001 is still 0.7)."""
    return bool(np.ptp(values) <= 1e-12 * max(1.0, float(np.abs(values).max())))


PAIRED_T_BELOW = 6  # pairs: below this the paired t-test, from this on Wilcoxon's signed-rank test
BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, CONFIDENCE = 10_000, 20_260_113, 0.95


@dataclass(frozen=True)
class PairedTest:
    """A paired test of per-seed differences: which test, its p-value (None when it cannot be run), the text."""

    test: str
    p: float | None
    text: str


def paired_test(differences: np.ndarray) -> PairedTest:
    """Two-sided test that the per-seed differences centre on 0.

    With fewer than ``PAIRED_T_BELOW`` pairs Wilcoxon's signed-rank test cannot reach p < 0.05 (its smallest
    exact two-sided p with 5 pairs is 2/32 = 0.0625), so the paired t-test is used (it assumes normal
    differences); from ``PAIRED_T_BELOW`` pairs on, the distribution-free Wilcoxon test (exact when possible).
    """
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return PairedTest("", None, "needs ≥ 2 pairs")
    test = "paired t" if len(d) < PAIRED_T_BELOW else "Wilcoxon"
    if _constant(d):
        if np.allclose(d, 0.0, rtol=0.0, atol=1e-12 * max(1.0, float(np.abs(d).max()))):
            return PairedTest(test, 1.0, f"{test}: p = 1 (no difference)")
        return PairedTest(test, 0.0, f"{test}: p ≈ 0 (the same difference every seed)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if test == "paired t":
            p = float(stats.ttest_1samp(d, 0.0).pvalue)
        else:
            p = float(stats.wilcoxon(d).pvalue)
    return PairedTest(test, p, f"{test}: p = {p:.3g}" + (" (significant)" if p < ALPHA else ""))


def bootstrap_ci(differences: np.ndarray, confidence: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
                 seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean difference (seeded: the same numbers every time); None below
    2 pairs. With few pairs it is narrower than it should be: read it with the test next to it."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return None
    means = d[np.random.default_rng(seed).integers(0, len(d), size=(resamples, len(d)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)


def paired_differences(frame: pd.DataFrame, column: str, framework: str, reference: str) -> pd.Series:
    """``framework`` − ``reference`` per seed, over the seeds both completed (index: seed)."""
    def by_seed(name: str) -> pd.Series:
        part = frame[frame["framework"] == name]
        values = pd.Series(pd.to_numeric(part[column], errors="coerce").to_numpy(), index=part["seed"].to_numpy())
        return values.dropna().groupby(level=0).mean()

    return (by_seed(framework) - by_seed(reference)).dropna().sort_index()


def paired_text(differences: pd.Series, digits: int = 4) -> str:
    """"mean [low, high]; per seed s: d, ..." for the table."""
    if differences.empty:
        return "—"
    values = differences.to_numpy(dtype=float)
    text = _number(float(values.mean()), digits)
    interval = bootstrap_ci(values)
    if interval is not None:
        text += f" [{_number(interval[0], 3)}, {_number(interval[1], 3)}]"
    per_seed = ", ".join(f"{int(seed) if float(seed).is_integer() else seed}: {_number(float(value), 3)}"
                         for seed, value in differences.items())
    return f"{text}; per seed {per_seed}"


SATURATION_SHARE = 0.5  # noise scoring at least half as well as real digits: the metric cannot tell them apart
DIGITS_FID_SHARE, DIGITS_MIN_COVERED = 0.25, 9  # a model draws digits: FID < 25 % of noise's, ≥ 9 digits covered
REAL_LABEL, NOISE_LABEL = "real training digits (floor)", "uniform noise (ceiling)"
SATURATED = "saturated"
FULL_COMMAND = "python benchmark/run_all.py --profile full --models {model}"


def saturated(metric: Metric, references: dict[str, dict]) -> bool:
    """Whether ``metric`` cannot separate real digits from uniform noise at this sample count: the noise's value
    within the two values' own spread of the real one, or, in the metric's good direction, at least
    ``SATURATION_SHARE`` of the real value (higher is better) or at most 1/``SATURATION_SHARE`` of it (lower)."""
    real = references.get(ev.REFERENCE_REAL, {}).get(metric.column)
    noise = references.get(ev.REFERENCE_NOISE, {}).get(metric.column)
    if real is None or noise is None or not metric.better:
        return False
    spread = sum(references[name].get(metric.spread) or 0.0 for name in ev.REFERENCE_SETS) if metric.spread else 0.0
    if abs(noise - real) <= spread:
        return True
    if metric.better == "higher":
        return noise >= SATURATION_SHARE * real
    return real >= SATURATION_SHARE * noise


def comparison_table(data: SuiteData, model: str, metrics: tuple[Metric, ...],
                     with_references: bool = False) -> pd.DataFrame:
    """Rows: metrics; columns: the reference rows (``with_references``), one per framework (mean ± std over
    seeds), then per other framework Welch's test against the first, the paired differences and the paired test."""
    frame = data.table[(data.table["model"] == model) & data.table["status"].isin([runs.COMPLETED])]
    frameworks = data.frameworks
    seeds = {f: int((frame["framework"] == f).sum()) for f in frameworks}
    references = data.references if with_references else {}
    rows = []
    for metric in metrics:
        samples = {f: _values(frame[frame["framework"] == f], metric.column) for f in frameworks}
        if not any(len(v) for v in samples.values()):
            continue
        arrow = {"lower": " ↓", "higher": " ↑"}.get(metric.better, "")
        row = {"metric": metric.label + arrow + (f" ({SATURATED})" if saturated(metric, references) else "")}
        for key, label in ((ev.REFERENCE_REAL, REAL_LABEL), (ev.REFERENCE_NOISE, NOISE_LABEL)):
            if references:
                value = references.get(key, {}).get(metric.column)
                row[label] = _number(value, metric.digits) if value is not None else "—"
        for f in frameworks:
            row[f"{PRETTY.get(f, f)} (n={seeds[f]})"] = mean_std(samples[f], metric.digits, seeds[f])
        reference = frameworks[0]
        for f in frameworks[1:]:
            versus = f"{PRETTY.get(f, f)} − {PRETTY.get(reference, reference)}"
            _, text = welch(samples[reference], samples[f])
            row[f"Welch t-test {PRETTY.get(f, f)} vs {PRETTY.get(reference, reference)}"] = text
            differences = paired_differences(frame, metric.column, f, reference)
            row[f"paired Δ {versus}: mean [95 % CI]"] = paired_text(differences, metric.digits)
            row[f"paired test {versus}"] = paired_test(differences.to_numpy()).text
        rows.append(row)
    return pd.DataFrame(rows)


def verdict(data: SuiteData, model: str) -> tuple[list[str], bool]:
    """One phrase per framework saying whether the samples are digits, and whether any is under-trained."""
    frame = data.table[(data.table["model"] == model) & (data.table["status"] == runs.COMPLETED)]
    noise_fid = data.references.get(ev.REFERENCE_NOISE, {}).get("mnist_fid")
    phrases, under = [], False
    for framework in data.frameworks:
        part = frame[frame["framework"] == framework]
        fid, covered = _values(part, "mnist_fid"), _values(part, "digits_covered")
        if not len(fid):
            continue
        reasons = []
        if noise_fid:
            share = fid.mean() / noise_fid
            if share >= DIGITS_FID_SHARE:
                reasons.append(f"MNIST-FID {_number(fid.mean())} is {share:.0%} of uniform noise's "
                               f"{_number(noise_fid)} (digits need < {DIGITS_FID_SHARE:.0%})")
            measured = f"MNIST-FID {_number(fid.mean())} = {share:.0%} of noise's"
        else:
            measured = f"MNIST-FID {_number(fid.mean())} (no reference rows to compare with)"
        if len(covered) and covered.mean() < DIGITS_MIN_COVERED:
            reasons.append(f"{_number(covered.mean(), 2)} digits covered (digits need ≥ {DIGITS_MIN_COVERED})")
        name = PRETTY.get(framework, framework)
        if reasons:
            under = True
            phrases.append(f"{name}: **under-trained** — " + "; ".join(reasons))
        else:
            phrases.append(f"{name}: digits ({measured}, {_number(covered.mean(), 2) if len(covered) else '?'} "
                           f"digits covered)")
    return phrases, under


# --------------------------------------------------------------------------------------------- plots

def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path


def _framework_runs(data: SuiteData, model: str):
    """(framework, seed, run_dir) of the runs of ``model`` that have a folder, frameworks in report order."""
    frame = data.table[data.table["model"] == model]
    for framework in data.frameworks:
        for _, row in frame[frame["framework"] == framework].sort_values("seed").iterrows():
            if row["run"] in data.run_dirs:
                yield framework, row["seed"], data.run_dirs[row["run"]]


def plot_curves(data: SuiteData, model: str, path: Path) -> Path | None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    drawn = set()
    for framework, seed, run_dir in _framework_runs(data, model):
        curve = _read_json(run_dir / ev.CURVE_FILE, [])
        if not curve:
            continue
        steps = [p[ev.KEY_STEP] for p in curve]
        seconds = [p[ev.KEY_ELAPSED] for p in curve]
        fid = [p[ev.KEY_MNIST_FID] for p in curve]
        label = None if framework in drawn else PRETTY.get(framework, framework)
        drawn.add(framework)
        for axis, x in zip(axes, (steps, seconds)):
            axis.plot(x, fid, marker="o", ms=3, color=COLORS.get(framework), alpha=0.85, label=label)
    if not drawn:
        plt.close(fig)
        return None
    axes[0].set_xlabel("iteration (generator updates)")
    axes[1].set_xlabel("training seconds (wall clock, excl. evaluation I/O)")
    axes[0].set_ylabel("MNIST-FID of the curve samples (log)")
    for axis in axes:
        axis.set_yscale("log")
        axis.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"{model}: MNIST-FID during training (one line per seed)")
    return _save(fig, path)


def plot_losses(data: SuiteData, model: str, path: Path) -> Path | None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), sharex=True)
    drawn = set()
    for framework, seed, run_dir in _framework_runs(data, model):
        records = runs.MetricsLog(run_dir / runs.METRICS).records() if (run_dir / runs.METRICS).exists() else []
        if not records:
            continue
        label = None if framework in drawn else PRETTY.get(framework, framework)
        drawn.add(framework)
        steps = [r["step"] for r in records]
        for axis, key in zip(axes, ("d_loss", "g_loss")):
            axis.plot(steps, [r.get(key, np.nan) for r in records], color=COLORS.get(framework), alpha=0.8,
                      label=label, lw=1)
    if not drawn:
        plt.close(fig)
        return None
    for axis, title in zip(axes, ("discriminator / critic loss", "generator loss")):
        axis.set_title(title)
        axis.set_xlabel("iteration")
        axis.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(f"{model}: losses (one line per seed)")
    return _save(fig, path)


def plot_throughput(data: SuiteData, path: Path) -> Path | None:
    frame = data.table[data.table["status"] == runs.COMPLETED]
    if frame.empty or _values(frame, "images_per_second").size == 0:
        return None
    models, frameworks = data.models, data.frameworks
    panels = (("images_per_second", "steady-state real images / s (higher is faster)"),
              ("steady_ms_per_step", "steady-state ms / iteration"),
              ("startup_seconds", "compile + warm-up (first 5 iterations), s"))
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 3.8))
    width = 0.8 / max(len(frameworks), 1)
    x = np.arange(len(models))
    for axis, (column, title) in zip(axes, panels):
        for index, framework in enumerate(frameworks):
            means, errors = [], []
            for model in models:
                values = _values(frame[(frame["model"] == model) & (frame["framework"] == framework)], column)
                means.append(values.mean() if len(values) else np.nan)
                errors.append(values.std(ddof=1) if len(values) > 1 else 0.0)
            axis.bar(x + (index - (len(frameworks) - 1) / 2) * width, means, width, yerr=errors, capsize=3,
                     color=COLORS.get(framework), label=PRETTY.get(framework, framework))
        axis.set_xticks(x, models, rotation=20)
        axis.set_title(title, fontsize=10)
        axis.grid(axis="y", alpha=0.3)
    axes[0].legend(fontsize=8)
    return _save(fig, path)


def plot_fid_bars(data: SuiteData, path: Path) -> Path | None:
    frame = data.table[data.table["status"] == runs.COMPLETED]
    if frame.empty or _values(frame, "mnist_fid").size == 0:
        return None
    models, frameworks = data.models, data.frameworks
    fig, axis = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / max(len(frameworks), 1)
    x = np.arange(len(models))
    for index, framework in enumerate(frameworks):
        means, errors = [], []
        for model in models:
            values = _values(frame[(frame["model"] == model) & (frame["framework"] == framework)], "mnist_fid")
            means.append(values.mean() if len(values) else np.nan)
            errors.append(values.std(ddof=1) if len(values) > 1 else 0.0)
        axis.bar(x + (index - (len(frameworks) - 1) / 2) * width, means, width, yerr=errors, capsize=3,
                 color=COLORS.get(framework), label=PRETTY.get(framework, framework))
    axis.set_xticks(x, models)
    axis.set_ylabel("MNIST-FID (lower is better)")
    axis.grid(axis="y", alpha=0.3)
    axis.legend(fontsize=8)
    return _save(fig, path)


def _first_seed_dirs(data: SuiteData, model: str) -> dict[str, Path]:
    """The lowest seed that every framework of ``model`` has, one run folder per framework."""
    by_framework: dict[str, dict[int, Path]] = {}
    for framework, seed, run_dir in _framework_runs(data, model):
        by_framework.setdefault(framework, {})[seed] = run_dir
    if not by_framework:
        return {}
    common = set.intersection(*(set(seeds) for seeds in by_framework.values()))
    return {f: seeds[min(common) if common else min(seeds)] for f, seeds in by_framework.items()}


def _sample_grid(run_dir: Path) -> tuple[np.ndarray | None, str]:
    samples = run_dir / runs.SAMPLES
    if samples.exists():
        with np.load(samples) as archive:
            return runs.image_grid(archive["images"][:GRID_IMAGES]), "final samples"
    grids = sorted((run_dir / runs.GRIDS).glob("step_*.png"))
    if grids:
        return np.asarray(Image.open(grids[-1]).convert("L")), f"last grid ({grids[-1].stem})"
    return None, ""


def _labelled_mosaic(tiles: list[Image.Image], labels: list[str], scale: int = 2) -> Image.Image:
    """Grey tiles side by side, each with a one-line label above it, enlarged without interpolation."""
    label_height, gap = 14, 8
    height = max(t.height for t in tiles)
    canvas = Image.new("L", (sum(t.width for t in tiles) + gap * (len(tiles) - 1), height + label_height), 255)
    draw = ImageDraw.Draw(canvas)
    left = 0
    for tile, label in zip(tiles, labels):
        canvas.paste(tile, (left, label_height))
        draw.text((left + 2, 1), label, fill=0)
        left += tile.width + gap
    return canvas.resize((canvas.width * scale, canvas.height * scale), Image.NEAREST)


def plot_sample_grids(data: SuiteData, model: str, path: Path) -> Path | None:
    """The first 64 final samples of each framework side by side (same evaluation noise, same seed)."""
    chosen = _first_seed_dirs(data, model)
    grids = {f: _sample_grid(d) for f, d in chosen.items()}
    grids = {f: g for f, g in grids.items() if g[0] is not None}
    if not grids:
        return None
    tiles = [Image.fromarray(grid) for grid, _ in grids.values()]
    labels = [f"{PRETTY.get(f, f)}, seed {_seed_of(chosen[f])}" + ("" if what == "final samples" else f" ({what})")
              for f, (_, what) in grids.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    _labelled_mosaic(tiles, labels).save(path, optimize=True)
    return path


def _seed_of(run_dir: Path):
    return _read_json(run_dir / runs.CONFIG, {}).get("seed", "?")


GIF_ROWS = 4  # of the 8 rows of a progress grid: half the images, half the file


def _top_rows(grid: Image.Image, rows: int = GIF_ROWS, cell: int = 28, pad: int = 2) -> Image.Image:
    """The first ``rows`` rows of an 8x8 ``runs.image_grid`` mosaic (cells of 28 px, 2 px padding)."""
    return grid.crop((0, 0, grid.width, min(grid.height, rows * (cell + pad) + pad)))


def progress_gif(data: SuiteData, model: str, path: Path, max_frames: int = 12) -> Path | None:
    """Frames: the grids/step_*.png of each framework side by side, at the steps all of them have."""
    chosen = _first_seed_dirs(data, model)
    frames_by = {f: {p.stem: p for p in sorted((d / runs.GRIDS).glob("step_*.png"))} for f, d in chosen.items()}
    frames_by = {f: v for f, v in frames_by.items() if v}
    if not frames_by:
        return None
    steps = sorted(set.intersection(*(set(v) for v in frames_by.values())))
    if not steps:
        return None
    if len(steps) > max_frames:  # evenly spaced, the last one always included
        steps = [steps[round(i * (len(steps) - 1) / (max_frames - 1))] for i in range(max_frames)]
    frames = [_labelled_mosaic([_top_rows(Image.open(frames_by[f][step]).convert("L")) for f in frames_by],
                               [f"{PRETTY.get(f, f)}, iteration {int(step.split('_')[1])}" for f in frames_by],
                               scale=1)
              for step in steps]
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=700, loop=0, optimize=True)
    return path


# ------------------------------------------------------------------------------------------- parity

def _flatten(value, prefix=""):
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def lockstep_records(lockstep) -> list[dict]:
    """Per-iteration drift records, each with a ``series`` name.

    ``benchmark.parity lockstep`` writes ``{"model", "steps", "backends": {BACKEND: {"per_step": [{step,
    d_loss_abs_diff, g_loss_abs_diff, generator_rel_diff, ...}]}}}``; a bare list of ``{step, ...}`` records
    or a dict of such lists is read too.
    """
    if isinstance(lockstep, list):
        return [r for r in lockstep if isinstance(r, dict) and "step" in r]
    if not isinstance(lockstep, dict):
        return []
    if isinstance(lockstep.get("backends"), dict):
        return [{**record, "series": f"Keras ({backend}) vs PyTorch"}
                for backend, block in lockstep["backends"].items() if isinstance(block, dict)
                for record in block.get("per_step", []) if isinstance(record, dict)]
    found = []
    for key, value in lockstep.items():
        found += [{**record, "series": record.get("series", key)} for record in lockstep_records(value)]
    return found


def plot_lockstep(lockstep, path: Path) -> Path | None:
    records = lockstep_records(lockstep)
    if not records:
        return None
    frame = pd.DataFrame(records)
    numeric = [c for c in frame.columns if c not in ("step", "series") and pd.api.types.is_numeric_dtype(frame[c])
               and (frame[c] > 0).any()]
    if not numeric:
        return None
    shown = numeric[:6]
    fig, axes = plt.subplots(1, len(shown), figsize=(4.2 * len(shown), 3.4), squeeze=False)
    for axis, column in zip(axes[0], shown):
        for name, part in frame.groupby("series", sort=False):
            axis.plot(part["step"], part[column].where(part[column] > 0), marker=".", label=str(name))
        axis.set_yscale("log")
        axis.set_xlabel("lockstep iteration")
        axis.set_title(column.replace("_", " "), fontsize=9)
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    model = lockstep.get("model") if isinstance(lockstep, dict) else None
    fig.suptitle(f"{model + ': ' if model else ''}PyTorch vs Keras from identical weights and inputs, drift per "
                 "iteration")
    return _save(fig, path)


def lockstep_table(lockstep) -> pd.DataFrame | None:
    """The drift after the first and the last lockstep iteration, per series."""
    records = lockstep_records(lockstep)
    if not records:
        return None
    frame = pd.DataFrame(records)
    rows = []
    for name, part in frame.groupby("series", sort=False):
        part = part.sort_values("step")
        for label, record in (("first", part.iloc[0]), ("last", part.iloc[-1])):
            rows.append({"comparison": name, "iteration": int(record["step"]),
                         **{c: record[c] for c in part.columns if c not in ("step", "series")}})
    return pd.DataFrame(rows)


def _compact(value) -> str:
    if isinstance(value, float):
        return _number(value, 3)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_compact(v)}" for k, v in value.items())
    if isinstance(value, list):
        if len(value) > 4 and all(isinstance(v, (int, float)) for v in value):
            return f"[{len(value)} values, mean {_number(float(np.mean(value)), 3)}]"
        return "; ".join(_compact(v) for v in value)
    return str(value)


def audit_tables(audit) -> list[tuple[str, pd.DataFrame]]:
    """``benchmark.parity audit``'s JSON as tables: one per section holding a list of rows (padding), and one
    overview with a row per other section: what was measured and how the spec neutralises it."""
    if not isinstance(audit, dict):
        frame = pd.DataFrame(audit) if isinstance(audit, list) and audit else None
        return [("", frame)] if frame is not None else []
    tables, overview = [], []
    for section, value in audit.items():
        if isinstance(value, dict) and isinstance(value.get("rows"), list):
            tables.append((section, pd.DataFrame([dict(_flatten(r)) for r in value["rows"]])))
        if isinstance(value, dict):
            measured = [f"{k}: {_compact(v)}" for k, v in _flatten({k: v for k, v in value.items()
                                                                     if k not in ("rows", "neutralised_by")})]
            overview.append({"difference": section.replace("_", " "), "measured": "; ".join(measured),
                             "neutralised by": value.get("neutralised_by", "")})
        else:
            overview.append({"difference": section.replace("_", " "), "measured": _compact(value),
                             "neutralised by": ""})
    return [("overview", pd.DataFrame(overview))] + tables


# ------------------------------------------------------------------------------------------ document

class Document:
    """Blocks rendered twice: Markdown with image links, HTML with the images embedded (base64)."""

    def __init__(self, out: Path):
        self.out, self.blocks = out, []

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("heading", level, text))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("bullets", items))

    def table(self, frame: pd.DataFrame | None) -> None:
        if frame is not None and not frame.empty:
            self.blocks.append(("table", frame))

    def image(self, path: Path | None, alt: str) -> None:
        if path is not None:
            self.blocks.append(("image", path, alt))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def markdown(self) -> str:
        parts = []
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                parts.append("#" * block[1] + " " + block[2])
            elif kind == "text":
                parts.append(block[1])
            elif kind == "bullets":
                parts.append("\n".join(f"- {item}" for item in block[1]))
            elif kind == "table":
                parts.append(markdown_table(block[1]))
            elif kind == "image":
                parts.append(f"![{block[2]}]({block[1].relative_to(self.out).as_posix()})")
            elif kind == "code":
                parts.append("```\n" + block[1] + "\n```")
        return "\n\n".join(parts) + "\n"

    def html(self, title: str) -> str:
        parts = []
        for block in self.blocks:
            kind = block[0]
            if kind == "heading":
                parts.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
            elif kind == "text":
                parts.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "bullets":
                parts.append("<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in block[1]) + "</ul>")
            elif kind == "table":
                parts.append(block[1].to_html(index=False, border=0, na_rep="—", classes="table"))
            elif kind == "image":
                mime = "image/gif" if block[1].suffix == ".gif" else "image/png"
                data = base64.b64encode(block[1].read_bytes()).decode()
                parts.append(f'<figure><img alt="{html.escape(block[2])}" src="data:{mime};base64,{data}">'
                             f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
            elif kind == "code":
                parts.append(f"<pre>{html.escape(block[1])}</pre>")
        style = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
                 "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
                 "th,td{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
                 "th{background:#f3f3f3}img{max-width:100%}pre{background:#f6f6f6;padding:8px;overflow:auto}"
                 "figure{margin:1em 0}figcaption{font-size:0.85em;color:#555}code{background:#f3f3f3}")
        return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
                f"<style>{style}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n")


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"\[([^\]]+)\]\(([^)]+)\)", r'<a href="\2">\1</a>', text)


def markdown_table(frame: pd.DataFrame) -> str:
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        if isinstance(value, float):
            value = _number(value)
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


# -------------------------------------------------------------------------------------------- report

SUMMARY_COLUMNS = ("run", "model", "framework", "seed", "status", "exit_code", "exit", "steps_planned", "steps_done",
                   "epochs", "batch_size", "train_seconds", "setup_seconds", "compile_seconds", "warmup_seconds", "startup_seconds", "steady_ms_per_step",
                   "images_per_second", "process_seconds", "train_wall_seconds", "other_cpu_share", "eval_wall_seconds",
                   "eval_exit_code", "evaluated", "num_samples_scored",
                   *(f"mnist_{k}" for k in ev.MNIST_KEYS), "inception_available", "inception_reason",
                   "inception_official_weights", *(f"inception_{k}" for k in ev.INCEPTION_KEYS),
                   "digits_covered", "kl_to_uniform", "curve_points", "curve_last_mnist_fid", "device",
                   "device_name", "determinism", "backend", "git_commit", "run_dir")


def _environment_section(doc: Document, data: SuiteData) -> None:
    env = data.suite.get("environment", {})
    doc.heading(2, "Environment")
    gpus = env.get("gpus")
    items = [f"CPU: {env.get('cpu', '?')} ({env.get('cpu_count', '?')} logical cores)",
             f"GPU: {'; '.join(gpus) if gpus else 'none'}",
             f"Platform: {env.get('platform', '?')}, Python {env.get('python', '?')}",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in env.get("versions", {}).items() if v),
             f"Code: git commit `{env.get('git_commit') or 'unknown'}`"]
    doc.bullets([i for i in items if not i.endswith("?")])
    rows = []
    for framework in data.frameworks:
        frame = data.table[data.table["framework"] == framework]
        config = {}
        for name in frame["run"]:
            if name in data.run_dirs:
                config = _read_json(data.run_dirs[name] / runs.CONFIG, {})
                if config:
                    break
        described = config.get("environment", {})
        if not described:
            continue
        precision = described.get("precision", {})
        rows.append({"framework": PRETTY.get(framework, framework),
                     "versions": ", ".join(f"{k} {v}" for k, v in (described.get("versions") or {}).items()),
                     "device": f"{described.get('device')} ({described.get('device_name')})",
                     "determinism": described.get("determinism"),
                     "compiled": described.get("compiled", described.get("jit_compile")),
                     "precision": ", ".join(f"{k}={v}" for k, v in precision.items())
                     if isinstance(precision, dict) else precision})
    doc.table(pd.DataFrame(rows))


def suite_profile(suite: dict) -> Profile | None:
    """The suite's profile as ``suite.json`` recorded it (None when it is missing or from another version)."""
    required = dict(name="?", description="", seeds=(), num_samples=0, curve_samples=0, curve_points=0,
                    grid_points=0, log_points=0)
    recorded = required | (suite.get("profile") or {})
    known = {f.name for f in dataclasses.fields(Profile)}
    try:
        return Profile(**{k: tuple(v) if k == "seeds" else v for k, v in recorded.items() if k in known})
    except (TypeError, ValueError):
        return None


def _setup_section(doc: Document, data: SuiteData) -> None:
    recorded = data.suite.get("profile", {})
    profile = suite_profile(data.suite)
    options = data.suite.get("options", {})
    doc.heading(2, "Set-up")
    length = profile.length_text() if profile else "?"
    steps = data.table.groupby("model")["steps_planned"].first().dropna() if "steps_planned" in data.table else {}
    threads = options.get("threads")
    doc.bullets([
        f"Profile **{recorded.get('name', '?')}**: {recorded.get('description', '')}; training length {length}"
        + (f" ({', '.join(f'{m} {int(s)}' for m, s in steps.items())} iterations)" if len(steps) else "")
        + (f", batch size {recorded['batch_size']}" if recorded.get("batch_size") else ", the spec's batch size"),
        f"Training budget across models: {profile.budget_text() if profile else '?'}.",
        f"Seeds: {', '.join(map(str, options.get('seeds', [])))}; device requested: {options.get('device', '?')}; "
        f"{options.get('jobs', 1)} training process(es) at a time"
        + (f", {threads} CPU thread(s) each" if threads else "")
        + (" — **timings perturbed by parallel runs**: compare them within this suite only"
           if options.get("jobs", 1) > 1 else ""),
        f"Scored samples per run: {recorded.get('num_samples')} from the fixed evaluation noise, against the first "
        f"{recorded.get('reference_count') or ev.DEFAULT_REFERENCE_COUNT:,} MNIST test images; curve points: "
        f"{recorded.get('curve_samples')} samples each",
        *(f"Left out of this profile: **{model}** — {reason}." for model, reason in
          (recorded.get("left_out") or {}).items() if model not in data.models),
        "Every training run and every evaluation ran in its own process; the frameworks never shared one.",
        f"Suite started {data.suite.get('started', '?')}, last updated {data.suite.get('updated', '?')}, "
        f"state: {data.suite.get('state', '?')}",
    ])
    share = pd.to_numeric(data.table.get("other_cpu_share", pd.Series(dtype=float)), errors="coerce").dropna()
    if len(share):
        busy = data.table.loc[share[share > CONTENTION_SHARE].index, "run"]
        text = (f"Other processes used {share.median():.0%} (median) and at most {share.max():.0%} of the machine's "
                "CPU while the runs trained (column `other_cpu_share` of the CSV).")
        if len(busy):
            text += (f" **{len(busy)} run(s) trained while other processes used more than {CONTENTION_SHARE:.0%} of "
                     f"the CPU** ({', '.join(busy)}): their timings measure the contention as much as the framework.")
        doc.text(text)


def _problems_section(doc: Document, data: SuiteData) -> None:
    table = data.table
    bad = table[~table["status"].isin([runs.COMPLETED])]
    eval_failed = table[(table["status"] == runs.COMPLETED) &
                        (pd.to_numeric(table.get("eval_exit_code"), errors="coerce").fillna(0) != 0)] \
        if "eval_exit_code" in table else table.iloc[0:0]
    doc.heading(2, "Failed, diverged and unfinished runs")
    if bad.empty and eval_failed.empty:
        doc.text("None: every planned run completed and was evaluated.")
        return
    doc.text("Runs that did not complete are left out of every mean above (a diverged run has no final samples; "
             "its curve and losses are still plotted up to the divergence); each is listed with its exit status "
             "and the last lines of its log.")
    listing = pd.concat([bad, eval_failed]).copy()
    listing["problem"] = [_problem(row) for _, row in listing.iterrows()]
    columns = [c for c in ("run", "problem", "steps_done", "steps_planned") if c in listing]
    doc.table(listing[columns])
    for _, row in listing.iterrows():
        tail = row.get("log_tail")
        if isinstance(tail, str) and tail:
            doc.text(f"`{row['run']}` ({row['problem']}), last lines of its log:")
            doc.code(tail)


def _problem(row: pd.Series) -> str:
    status = row.get("status")
    exit_text = row.get("exit") if isinstance(row.get("exit"), str) else None
    if status == runs.COMPLETED:
        code = row.get("eval_exit_code")
        return f"trained, but its evaluation failed (exit {int(code) if pd.notna(code) else '?'})"
    if status == "pending":
        return "not started (the suite was stopped)"
    if status == runs.DIVERGED:
        return f"diverged (non-finite loss) [{exit_text or 'exit 3'}]"
    return f"{status} [{exit_text}]" if exit_text else str(status)


def _reference_bullets(data: SuiteData) -> list[str]:
    """How to read the reference columns, the saturation mark, the verdict and the paired statistics."""
    if data.references:
        real = data.references.get(ev.REFERENCE_REAL, {})
        references = (f"Reference columns, scored like the runs ({_number(real.get('num_samples_scored'))} images, the "
                      "same classifier, the same test images): **real training digits** (a seeded sample of MNIST's "
                      "training set: the best a generator can score at this sample count) and **uniform noise** "
                      "(independent pixels in [0, 255]: a generator that learnt nothing).")
    else:
        references = ("No reference rows were found for this sample count: compute them with `python -m "
                      f"benchmark.references {data.out.as_posix()}/{ev.REFERENCES_DIR} --num-samples N`.")
    return [
        references,
        f"A metric marked ({SATURATED}) cannot tell uniform noise from real digits at this sample count (noise within "
        f"the metric's spread of the real value, or at least {SATURATION_SHARE:.0%} of it where higher is better): "
        "do not read it.",
        f"Verdict: a framework's samples count as digits when their MNIST-FID is below {DIGITS_FID_SHARE:.0%} of "
        f"uniform noise's and they cover at least {DIGITS_MIN_COVERED} digits; otherwise the model is marked "
        "under-trained, with the command that trains it for the spec's length.",
        "Paired comparison: with the same seed both frameworks start from the same weights and see the same "
        "batches and noise, so each seed gives one difference (Keras − PyTorch). The table shows the mean "
        f"difference with a {CONFIDENCE:.0%} percentile bootstrap interval ({BOOTSTRAP_RESAMPLES:,} resamples, seeded) "
        f"and every seed's difference, and a two-sided paired test: the paired t-test below {PAIRED_T_BELOW} pairs, "
        f"Wilcoxon's signed-rank test from {PAIRED_T_BELOW} on (it cannot reach p < 0.05 with fewer); both need "
        "at least 2 pairs.",
    ]


def _inception_note(data: SuiteData) -> str | None:
    table = data.table
    if "inception_available" not in table or table["inception_available"].isna().all():
        return None
    official = table.get("inception_official_weights")
    if table["inception_available"].fillna(False).astype(bool).any():
        if official is not None and not official.fillna(False).astype(bool).all():
            return "Inception metrics were computed with unofficial weights in some runs and are not reported."
        return None
    reasons = table["inception_reason"].dropna().unique()
    return ("Inception metrics (FID, IS, KID on Inception-v3 features): **not computed** — "
            + ("; ".join(reasons) if len(reasons) else "no reason recorded")
            + ". They are left blank, never zero.")


def build_report(out: str | Path, parity_dir: str | Path | None = None) -> dict[str, Path]:
    """Write report.md, report.html, summary.csv and plots/ in ``out``; return their paths."""
    out = Path(out)
    data = collect(out)
    plots = out / PLOTS_DIR
    plots.mkdir(parents=True, exist_ok=True)
    for old in list(plots.glob("*.png")) + list(plots.glob("*.gif")):
        old.unlink()
    summary = data.table.reindex(columns=[c for c in SUMMARY_COLUMNS if c in data.table]
                                 + [c for c in data.table.columns if c not in SUMMARY_COLUMNS and c != "log_tail"])
    summary.to_csv(out / SUMMARY_CSV, index=False)

    profile = data.suite.get("profile", {}).get("name", out.name)
    doc = Document(out)
    doc.heading(1, f"GAN benchmark on MNIST: PyTorch vs Keras 3 — profile `{profile}`")
    counts = data.table["status"].value_counts().to_dict() if len(data.table) else {}
    doc.text(f"{len(data.table)} runs: " + (", ".join(f"{n} {s}" for s, n in counts.items()) or "none")
             + f". One row per run in [`{SUMMARY_CSV}`]({SUMMARY_CSV}); "
               "regenerate with `python -m benchmark.report " + out.as_posix() + "`.")
    if profile == "smoke":
        doc.text("**Smoke profile**: a few iterations per run to check the pipeline; the numbers say nothing "
                 "about the models or the frameworks.")
    _environment_section(doc, data)
    _setup_section(doc, data)

    doc.heading(2, "How to read the tables")
    doc.bullets([
        "Each cell: mean ± standard deviation (ddof 1) over seeds; the column header gives the number of "
        "completed runs (seeds), and a cell with fewer values says (n=k). ↓ lower is better, ↑ higher is better.",
        f"Significance: Welch's two-sided t-test (unequal variances, scipy.stats.ttest_ind(equal_var=False)) between "
        f"the frameworks' per-seed values, marked significant at p < {ALPHA}. It needs at least two seeds per "
        "framework (n/a otherwise); with three seeds it detects only large differences, and no correction for the "
        "many tests is applied.",
        "MNIST-FID / IS / KID / precision / recall use the project's MNIST classifier's features (in-domain, the "
        "more informative on digits); Inception metrics use torch-fidelity's Inception-v3. KID is ×1 (not ×1000).",
        "Coverage: the classifier's predicted digit of every sample; a digit is covered with at least 1 % of the "
        "samples; KL to uniform is 0 for a balanced set, ln 10 = 2.30 for a single digit.",
        "Timing: training seconds exclude sample grids, evaluation sample sets and checkpoints. Keras compiles its "
        "training iteration (tf.function / XLA or jax.jit) before the first one, timed as compile (part of set-up); "
        "PyTorch runs eagerly (no compile: —). Warm-up is the first 5 iterations of the process (tracing left over, "
        "allocator growth); steady state is every later iteration, timed after a device sync. Images/s counts real "
        "images consumed (WGAN and WGAN-GP: 5 critic batches per iteration).",
        "Curves: MNIST-FID of the smaller evaluation sets saved during training, so they are comparable with each "
        "other, not with the final table (FID depends on the sample count).",
    ] + _reference_bullets(data))
    note = _inception_note(data)
    if note:
        doc.text(note)

    doc.heading(2, "Overview")
    doc.image(plot_fid_bars(data, plots / "fid.png"), "Final MNIST-FID per model and framework (mean ± std over seeds)")
    doc.image(plot_throughput(data, plots / "throughput.png"),
              "Throughput, time per iteration and compile time per model and framework (mean ± std over seeds)")

    for model in data.models:
        doc.heading(2, f"Model `{model}`")
        quality = [m for m in QUALITY if not (m.column in INCEPTION_COLUMNS and note)]
        doc.heading(3, "Quality")
        doc.table(comparison_table(data, model, tuple(quality), with_references=True))
        phrases, under = verdict(data, model)
        if phrases:
            doc.text("**Verdict**: " + "; ".join(phrases) + "."
                     + (f" Train it properly with `{FULL_COMMAND.format(model=model)}`." if under else ""))
        doc.heading(3, "Speed")
        doc.table(comparison_table(data, model, SPEED))
        doc.image(plot_sample_grids(data, model, plots / f"samples_{model}.png"),
                  f"{model}: samples from the same evaluation noise (PyTorch | Keras)")
        doc.image(plot_curves(data, model, plots / f"curves_{model}.png"),
                  f"{model}: MNIST-FID against iterations and against training seconds")
        doc.image(plot_losses(data, model, plots / f"losses_{model}.png"), f"{model}: D and G losses")
        doc.image(progress_gif(data, model, plots / f"progress_{model}.gif"),
                  f"{model}: training progress (the first 32 evaluation noise vectors)")

    _parity_section(doc, Path(parity_dir) if parity_dir else DEFAULT_PARITY_DIR, plots)
    _problems_section(doc, data)

    doc.heading(2, "All runs")
    columns = [c for c in ("run", "status", "steps_done", "mnist_fid", "mnist_is_mean", "digits_covered",
                           "train_seconds", "images_per_second") if c in data.table]
    doc.table(data.table[columns])

    paths = {"markdown": out / REPORT_MD, "html": out / REPORT_HTML, "csv": out / SUMMARY_CSV, "plots": plots}
    runs.atomic_write(paths["markdown"], lambda f: f.write(doc.markdown()), mode="w")
    runs.atomic_write(paths["html"], lambda f: f.write(doc.html(f"GAN benchmark — {profile}")), mode="w")
    return paths


def _parity_section(doc: Document, parity_dir: Path, plots: Path) -> None:
    doc.heading(2, "Parity: the two implementations in lockstep")
    lockstep = _read_json(parity_dir / LOCKSTEP_FILE)
    audit = _read_json(parity_dir / DEFAULTS_AUDIT_FILE)
    if lockstep is None and audit is None:
        doc.text(f"No parity results in `{parity_dir}`: run `python -m benchmark.parity lockstep` and "
                 "`python -m benchmark.parity audit`, then `python -m benchmark.report` again.")
        return
    if lockstep is not None:
        details = ""
        if isinstance(lockstep, dict):
            details = ", ".join(f"{k} {lockstep[k]}" for k in ("model", "steps", "batch_size", "seed") if k in lockstep)
        note = lockstep.get("note") if isinstance(lockstep, dict) else None
        doc.text(f"`{LOCKSTEP_FILE}` ({details}): "
                 + (note or "both frameworks start from the same weights and consume the same batches and noise")
                 + ". The drift is how far their losses and generator weights are apart after each iteration.")
        doc.image(plot_lockstep(lockstep, plots / "parity_drift.png"), "Lockstep drift between PyTorch and Keras")
        doc.table(lockstep_table(lockstep))
    if audit is not None:
        doc.heading(3, "Framework defaults that differ, measured, and how the spec neutralises them")
        doc.text(f"From `{DEFAULTS_AUDIT_FILE}` (`python -m benchmark.parity audit`).")
        for title, table in audit_tables(audit):
            if title not in ("", "overview"):
                doc.text(f"**{title.replace('_', ' ')}**:")
            doc.table(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.report", description=__doc__.split("\n")[0])
    parser.add_argument("out", help="suite folder (results/NAME)")
    parser.add_argument("--parity-dir", help=f"lockstep parity results (default: {DEFAULT_PARITY_DIR})")
    args = parser.parse_args(argv)
    if not Path(args.out).is_dir():
        print(f"error: {args.out} is not a folder", file=sys.stderr)
        return 2
    paths = build_report(args.out, args.parity_dir)
    print(f"report: {paths['markdown']} and {paths['html']}; {paths['csv']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
