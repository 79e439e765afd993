"""The quality grade: the log-scale position between the reference rows, the thresholds, class balance, run by run."""
from __future__ import annotations

import math

import pytest

from benchmark.report import grading

REAL, NOISE = 5.0, 2250.0  # the reference rows' MNIST-FID at 2,000 samples (PARITY-NOTES §8)
BALANCED = [200] * 10


def test_the_reference_rows_grade_themselves():
    assert grading.grade(REAL, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949], REAL, NOISE).text == \
        grading.DIGITS  # MNIST's own training-class counts are balanced
    assert grading.grade(NOISE, [0, 0, 0, 0, 0, 0, 0, 0, 2000, 0], REAL, NOISE).text == grading.UNDER_TRAINED


def test_positions_and_thresholds_on_the_log_scale():
    assert grading.fid_position(REAL, REAL, NOISE) == 0.0 and grading.fid_position(NOISE, REAL, NOISE) == 1.0
    assert grading.fid_position(1.0, REAL, NOISE) == 0.0  # below the finite-sample floor counts as the floor
    middle = math.sqrt(REAL * NOISE)  # the geometric mean: 106
    assert grading.fid_at(0.5, REAL, NOISE) == pytest.approx(middle)
    assert grading.fid_position(middle, REAL, NOISE) == pytest.approx(0.5)
    assert grading.grade(middle * 0.99, BALANCED, REAL, NOISE).label == grading.DIGITS
    assert grading.grade(middle * 1.01, BALANCED, REAL, NOISE).label == grading.ROUGH
    # an FID of 500 (22 % of noise's, which the old linear rule passed as digits) is past 3/4 of the scale
    assert grading.fid_position(500.0, REAL, NOISE) == pytest.approx(math.log(100) / math.log(450))
    assert grading.grade(500.0, BALANCED, REAL, NOISE).label == grading.UNDER_TRAINED
    with pytest.raises(ValueError, match="0 < real < noise"):
        grading.fid_position(50.0, 100.0, 90.0)


def test_a_class_above_twice_or_below_half_its_share_is_imbalanced():
    # vanilla as measured: digit 1 at 24 %, digit 0 at 1 % of 2,000 samples
    vanilla = [20, 480, 200, 180, 190, 170, 200, 190, 180, 190]
    result = grading.grade(60.0, vanilla, REAL, NOISE)
    assert result.text == "digits, imbalanced" and result.imbalanced
    assert result.reasons == ("digit 0 is 1.0% of the samples", "digit 1 is 24.0% of the samples")
    assert not grading.grade(60.0, [250, 150] + [200] * 8, REAL, NOISE).imbalanced  # 12.5 % and 7.5 %: within
    assert grading.grade(300.0, vanilla, REAL, NOISE).text == "rough digits, imbalanced"
    assert grading.grade(2000.0, vanilla, REAL, NOISE).text == grading.UNDER_TRAINED  # the worse grade says it all
    assert grading.imbalance_reasons([]) == []


def test_the_rule_text_states_the_thresholds_in_fid_units():
    text = grading.rule_text(REAL, NOISE, 2000)
    assert "(FID ≤ 106)" in text and "(FID ≤ 489)" in text and "2,000 samples" in text and "20%" in text


def test_a_conditional_run_needs_the_requested_digit_in_ninety_percent_of_its_samples():
    assert grading.grade(20.0, BALANCED, REAL, NOISE, accuracy=0.90).text == grading.DIGITS
    result = grading.grade(20.0, BALANCED, REAL, NOISE, accuracy=0.899)  # digits by FID, not the ones asked for
    assert result.label == grading.UNDER_TRAINED
    assert result.reasons == ("the requested digit comes out in 89.9% of the samples (a conditional run needs ≥ 90%)",)
    unmeasured = grading.grade(20.0, BALANCED, REAL, NOISE, accuracy=math.nan)
    assert unmeasured.label == grading.UNDER_TRAINED and unmeasured.reasons == ("no requested-digit accuracy was "
                                                                                "measured",)
    assert grading.grade(300.0, BALANCED, REAL, NOISE, accuracy=0.99).label == grading.ROUGH  # the FID rule holds
    assert "90%" in grading.rule_text(REAL, NOISE, 2000, conditional=True)
    assert "requested" not in grading.rule_text(REAL, NOISE, 2000)
