"""The report's statistics on known inputs: paired tests, the bootstrap interval, pairing by seed, saturation."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmark import eval_format as ev
from benchmark.report import columns, stats


def test_paired_test_needs_two_pairs():
    for values in ([], [1.5]):
        result = stats.paired_test(np.array(values))
        assert result.p is None and result.text == "needs ≥ 2 pairs"


def test_paired_t_below_six_pairs_matches_the_closed_form():
    # d = 1, 2, 3: mean 2, sd 1, t = 2 sqrt(3) with 2 degrees of freedom, whose survival function is
    # (1 - t / sqrt(t^2 + 2)) / 2.
    t = 2 * math.sqrt(3)
    expected = 1 - t / math.sqrt(t * t + 2)
    result = stats.paired_test(np.array([1.0, 2.0, 3.0]))
    assert result.test == "paired t"
    assert result.p == pytest.approx(expected, rel=1e-9)
    assert result.text == f"paired t: p = {expected:.3g}"


def test_wilcoxon_from_six_pairs_is_exact():
    # All six differences positive: the exact two-sided p is 2 / 2^6.
    result = stats.paired_test(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    assert result.test == "Wilcoxon" and result.p == pytest.approx(2 / 64)
    assert "significant" in result.text
    # One negative difference of rank 2: rank sums <= 2 come from {}, {1}, {2}, so p = 2 * 3 / 64.
    result = stats.paired_test(np.array([1.0, -2.0, 3.0, 4.0, 5.0, 6.0]))
    assert result.p == pytest.approx(6 / 64) and "significant" not in result.text


def test_paired_test_of_constant_differences():
    assert stats.paired_test(np.zeros(3)).p == 1.0
    same = stats.paired_test(np.full(4, -2.5))
    assert same.p == 0.0 and "the same difference every seed" in same.text


def test_bootstrap_ci_known_and_seeded():
    assert stats.bootstrap_ci(np.array([7.0])) is None
    assert stats.bootstrap_ci(np.array([2.0, 2.0, 2.0])) == (2.0, 2.0)
    # Resampled means of {0, 10} with two draws: 0, 5, 10 with probabilities 1/4, 1/2, 1/4.
    assert stats.bootstrap_ci(np.array([0.0, 10.0])) == (0.0, 10.0)
    values = np.array([-1.0, 0.5, 2.0, 3.5, 1.0, 0.0, 2.5])
    low, high = stats.bootstrap_ci(values)
    assert low < values.mean() < high
    assert stats.bootstrap_ci(values) == (low, high)  # seeded: the same interval every time


def test_paired_differences_use_the_seeds_both_frameworks_completed():
    frame = pd.DataFrame({"framework": ["pytorch"] * 3 + ["keras-tensorflow"] * 2,
                          "seed": [0, 1, 2, 0, 2], "classifier_fid": [10.0, 11.0, 12.0, 7.0, 13.5]})
    differences = stats.paired_differences(frame, "classifier_fid", "keras-tensorflow", "pytorch")
    assert list(differences.index) == [0, 2] and list(differences) == [-3.0, 1.5]
    assert stats.paired_text(differences, 4).endswith("; per seed 0: -3, 2: 1.5")
    assert stats.paired_text(differences.iloc[:0]) == "—"


REFERENCES = {ev.REFERENCE_REAL: {"classifier_fid": 5.0, "classifier_precision": 0.88, "classifier_recall": 0.89,
                                  "classifier_kid_mean": 0.0, "classifier_kid_std": 15.0, "classes_covered": 10.0},
              ev.REFERENCE_NOISE: {"classifier_fid": 2250.0, "classifier_precision": 0.98, "classifier_recall": 0.0,
                                   "classifier_kid_mean": 20.0, "classifier_kid_std": 10.0, "classes_covered": 4.0}}


@pytest.mark.parametrize("column, expected", [
    ("classifier_fid", False),  # noise 450x worse
    ("classifier_precision", True),  # noise scores higher than real digits
    ("classifier_recall", False),
    ("classifier_kid_mean", True),  # 20 apart, within the spreads 15 + 10
    ("classes_covered", False),  # 4 < 0.5 x 10
])
def test_saturated(column, expected):
    metric = next(m for m in columns.QUALITY if m.column == column)
    assert stats.saturated(metric, REFERENCES) is expected
    assert stats.saturated(metric, {}) is False  # no reference rows: nothing is marked


def test_lower_is_better_saturates_within_a_factor_two():
    metric = columns.Metric("x", "x", "lower")
    near = {ev.REFERENCE_REAL: {"x": 60.0}, ev.REFERENCE_NOISE: {"x": 100.0}}
    far = {ev.REFERENCE_REAL: {"x": 40.0}, ev.REFERENCE_NOISE: {"x": 100.0}}
    assert stats.saturated(metric, near) and not stats.saturated(metric, far)


def test_below_five_pairs_the_table_shows_the_range_not_an_interval():
    two = pd.Series([-3.0, 1.5], index=[0, 1])
    assert stats.paired_text(two, 4) == "-0.75, range [-3, 1.5]; per seed 0: -3, 1: 1.5"
    five = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=range(5))
    low, high = stats.bootstrap_ci(five.to_numpy())
    assert stats.paired_text(five, 4).startswith(f"3 [{stats.number(low, 3)}, {stats.number(high, 3)}]; per seed")


def test_nothing_is_called_significant_from_two_pairs_or_shared_machine_timings():
    two = stats.paired_test(np.array([1.0, 1.0001]))  # t ≈ 2e4: p ≈ 3e-5, from 2 pairs
    assert two.p < 1e-3 and "significant" not in two.text and "n = 2: too few to call" in two.text
    three = np.array([1.0, 1.0001, 1.0002])
    assert stats.paired_test(three).text.endswith("(significant)")
    assert "significant" not in stats.paired_test(three, contended=True).text
    p, text = stats.welch(np.array([1.0, 1.1]), np.array([5.0, 5.1]))
    assert p < 0.05 and "too few to call" in text
    p, text = stats.welch(np.array([1.0, 1.1, 1.2]), np.array([5.0, 5.1, 5.2]), contended=True)
    assert p < 0.05 and "shared the machine" in text and "(significant)" not in text


def test_the_smallest_detectable_effect_has_the_stated_power():
    """At the effect it returns, a simulated paired t-test at p < 0.05 rejects 80 % of the time; with no effect, 5 %."""
    assert stats.detectable_effect(1) is None
    effects = [stats.detectable_effect(n) for n in (2, 3, 5, 10)]
    assert effects == sorted(effects, reverse=True) and effects[0] > 10 and 0.9 < effects[-1] < 1.1
    rng = np.random.default_rng(0)
    for pairs, effect in ((3, effects[1]), (5, effects[2])):
        differences = rng.standard_normal((20_000, pairs)) + effect
        rejected = np.mean(stats.stats.ttest_1samp(differences, 0.0, axis=1).pvalue < 0.05)
        assert rejected == pytest.approx(0.80, abs=0.015)
        assert stats.paired_t_power(0.0, pairs) == pytest.approx(0.05, abs=1e-6)
    assert "11.5 standard deviations" in stats.detectable_text(2) and "2/2^n = 0.5" in stats.detectable_text(2)
