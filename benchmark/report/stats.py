"""The statistics of the report: mean ± std over seeds, Welch's test between frameworks, paired per-seed
differences with a paired test and (from ``INTERVAL_MIN_PAIRS`` pairs) a seeded bootstrap interval, the smallest
effect a seed count can detect, and the saturation of a metric.

Few seeds claim little: with 2 pairs a percentile bootstrap "95 % interval" is just the two differences (it covered
the true mean in 49 % of simulated cases; 75 % with 3 pairs, 85 % with 5), so below ``INTERVAL_MIN_PAIRS`` the
tables show every seed's difference and their range instead; and no test result is called significant from fewer
than ``SIGNIFICANCE_MIN_PAIRS`` values a side, or on timings of runs that shared the machine."""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, optimize, stats

from benchmark import eval_format as ev
from benchmark.report.columns import Metric

ALPHA = 0.05
POWER = 0.80  # for the smallest detectable effect
SIGNIFICANCE_MIN_PAIRS = 3  # fewer values (a side, or pairs): a p-value is shown, never called significant
INTERVAL_MIN_PAIRS = 5  # fewer pairs: the per-seed differences and their range, no bootstrap interval


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


def verdict_suffix(p: float, n: int, contended: bool = False) -> str:
    """" (significant)" when ``p`` < ``ALPHA`` from at least ``SIGNIFICANCE_MIN_PAIRS`` values on an uncontended
    measurement; otherwise why no call is made, when that is the reason."""
    if contended:
        return " (runs shared the machine: not a speed verdict)"
    if n < SIGNIFICANCE_MIN_PAIRS:
        return f" (n = {n}: too few to call)"
    return " (significant)" if p < ALPHA else ""


def welch(a: np.ndarray, b: np.ndarray, contended: bool = False) -> tuple[float | None, str]:
    """Welch's two-sided t-test: (p or None, text). Needs two values a side and some variance; called significant
    only from ``SIGNIFICANCE_MIN_PAIRS`` values a side and never on ``contended`` timings."""
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
    return p, f"p = {p:.3g}" + verdict_suffix(p, min(len(a), len(b)), contended)


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


def paired_test(differences: np.ndarray, contended: bool = False) -> PairedTest:
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
    return PairedTest(test, p, f"{test}: p = {p:.3g}" + verdict_suffix(p, len(d), contended))


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


def paired_t_power(effect: float, pairs: int, alpha: float = ALPHA) -> float:
    """The probability that a two-sided paired t-test at ``alpha`` rejects when the true mean difference is
    ``effect`` standard deviations: T = (Z + effect·√n) / √(V / df) with V ~ χ²(df), integrated over V (scipy's
    noncentral t returns NaN at some shifts)."""
    df = pairs - 1
    critical, shift = stats.t.ppf(1 - alpha / 2, df), effect * math.sqrt(pairs)

    def rejected(v: float) -> float:
        scale = critical * math.sqrt(v / df)
        return (stats.norm.cdf(shift - scale) + stats.norm.cdf(-shift - scale)) * stats.chi2.pdf(v, df)

    return float(integrate.quad(rejected, 0.0, math.inf, limit=200)[0])


def detectable_effect(pairs: int, alpha: float = ALPHA, power: float = POWER) -> float | None:
    """The smallest true mean difference, in standard deviations of the per-seed differences, that a two-sided
    paired t-test at ``alpha`` detects with probability ``power`` from ``pairs`` pairs; None below 2 pairs."""
    if pairs < 2:
        return None
    return float(optimize.brentq(lambda effect: paired_t_power(effect, pairs, alpha) - power, 1e-6, 100.0))


def detectable_text(pairs: int) -> str:
    """One sentence for the report and the README: what ``pairs`` paired seeds can and cannot show."""
    effect = detectable_effect(pairs)
    if effect is None:
        return f"With {pairs} pair(s) of seeds no paired test can be run."
    return (f"With {pairs} paired seeds a paired t-test at p < {ALPHA} detects, {POWER:.0%} of the time, only a mean "
            f"difference of at least {effect:.1f} standard deviations of the per-seed differences (an exact "
            f"distribution-free test cannot reach p < {ALPHA} below 6 pairs: its smallest two-sided p is "
            f"2/2^n = {2 / 2 ** pairs:.3g}); smaller differences are not evidence of no difference.")


def paired_differences(frame: pd.DataFrame, column: str, framework: str, reference: str) -> pd.Series:
    """``framework`` − ``reference`` per seed, over the seeds both completed (index: seed)."""
    def by_seed(name: str) -> pd.Series:
        part = frame[frame["framework"] == name]
        values = pd.Series(pd.to_numeric(part[column], errors="coerce").to_numpy(), index=part["seed"].to_numpy())
        return values.dropna().groupby(level=0).mean()

    return (by_seed(framework) - by_seed(reference)).dropna().sort_index()


def paired_text(differences: pd.Series, digits: int = 4) -> str:
    """"mean [low, high]; per seed s: d, ..." for the table: the bootstrap interval from ``INTERVAL_MIN_PAIRS``
    pairs, "range [min, max]" of the differences below that."""
    if differences.empty:
        return "—"
    values = differences.to_numpy(dtype=float)
    text = number(float(values.mean()), digits)
    if len(values) >= INTERVAL_MIN_PAIRS:
        interval = bootstrap_ci(values)
        text += f" [{number(interval[0], 3)}, {number(interval[1], 3)}]"
    elif len(values) >= 2:
        text += f", range [{number(float(values.min()), 3)}, {number(float(values.max()), 3)}]"
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
