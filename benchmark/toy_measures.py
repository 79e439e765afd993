"""The toy GAN's measures (core, numpy and scipy): exact distances between a generator's 1-D samples and its target.

No feature extractor and no classifier: with one dimension the distributions themselves are compared. Every
measure is a pure function of arrays; ``measure`` bundles them under the names the runner and the report share.
"""
from __future__ import annotations

import numpy as np
from scipy import stats

from benchmark.datasets import Normal

W1, KS, MEAN_ERROR, STD_ERROR, D_MAX = "w1", "ks", "mean_error", "std_error", "d_max"
MEASURES = (W1, KS, MEAN_ERROR, STD_ERROR, D_MAX)
GRID_POINTS = 201  # where D(x) is read: evenly over ``grid`` (the plots' x axis too)
GRID_STDS = 4.0  # the grid spans the target's mean +- this many standard deviations


def grid(target: Normal, points: int = GRID_POINTS) -> np.ndarray:
    """The fixed x axis of D(x) and of the plots: float64 [points] over mean +- GRID_STDS std."""
    return np.linspace(target.mean - GRID_STDS * target.std, target.mean + GRID_STDS * target.std, points)


def wasserstein1(samples: np.ndarray, reference: np.ndarray) -> float:
    """Earth mover's distance between two 1-D empirical distributions (scipy)."""
    return float(stats.wasserstein_distance(np.ravel(samples), np.ravel(reference)))


def ks_statistic(samples: np.ndarray, reference: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: the largest gap between the empirical CDFs, in [0, 1]."""
    return float(stats.ks_2samp(np.ravel(samples), np.ravel(reference)).statistic)


def discriminator_confidence(logits: np.ndarray) -> float:
    """max |D(x) - 0.5| over the grid, D(x) = sigmoid(logit): 0 when D cannot tell anything apart (equilibrium)."""
    return float(np.max(np.abs(1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64))) - 0.5)))


def measure(generated: np.ndarray, reference: np.ndarray, target: Normal, logits: np.ndarray) -> dict[str, float]:
    """Every measure of one moment of training: ``generated`` G's samples of the fixed inputs, ``reference`` fresh
    target samples, ``logits`` D's raw output on ``grid(target)``. Mean and standard-deviation errors are
    against the target's exact parameters. Non-finite samples give NaN everywhere (a diverged generator)."""
    generated = np.ravel(np.asarray(generated, np.float64))
    if not np.isfinite(generated).all():
        return {name: float("nan") for name in MEASURES}
    return {W1: wasserstein1(generated, reference), KS: ks_statistic(generated, reference),
            MEAN_ERROR: float(generated.mean() - target.mean), STD_ERROR: float(generated.std() - target.std),
            D_MAX: discriminator_confidence(logits)}
