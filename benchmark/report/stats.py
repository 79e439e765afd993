"""The statistics of the report: mean ± std over seeds, Welch's test between frameworks, paired per-seed
differences with a paired test and a seeded bootstrap interval, and the saturation of a metric."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from benchmark import eval_format as ev
from benchmark.report.columns import Metric

ALPHA = 0.05


def numeric_values(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.array([])
    return pd.to_numeric(frame[column], errors="coerce").dropna().to_numpy(dtype=float)


def number(value: float, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    if value != 0 and (abs(value) >= 10 ** max(digits, 5) or abs(value) < 1e-3):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def mean_std(values: np.ndarray, digits: int = 4, seeds: int | None = None) -> str:
    """"m ± s" (ddof 1) for n ≥ 2, "m" for n = 1, "—" for none; "(n=k)" when fewer than ``seeds`` values."""
    if len(values) == 0:
        return "—"
    text = number(values.mean(), digits)
    if len(values) > 1:
        text += f" ± {number(0.0 if _constant(values) else values.std(ddof=1), 2)}"
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
    text = number(float(values.mean()), digits)
    interval = bootstrap_ci(values)
    if interval is not None:
        text += f" [{number(interval[0], 3)}, {number(interval[1], 3)}]"
    per_seed = ", ".join(f"{int(seed) if float(seed).is_integer() else seed}: {number(float(value), 3)}"
                         for seed, value in differences.items())
    return f"{text}; per seed {per_seed}"


SATURATION_SHARE = 0.5  # noise scoring at least half as well as real digits: the metric cannot tell them apart


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
