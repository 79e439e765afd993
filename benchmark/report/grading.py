"""The quality grade of one run's samples, from its in-domain FID placed between the two reference rows and the
balance of its classes: the same rule for every model, applied run by run (never to a mean over seeds).

The FID of a sample set is placed on a log scale between real training digits scored the same way (position 0: the
best a generator can score at this sample count) and uniform noise (position 1: a generator that learnt nothing):
``position = log(FID / FID_real) / log(FID_noise / FID_real)``. A log scale because FID spans three orders of
magnitude here (real digits ≈ 3-5, dcgan 35-80, vanilla 200-350, noise ≈ 2,250): an FID of 500 is 22 % of noise's,
which a linear share once passed as digits, but 0.77 of the way to noise on this scale.

* **digits**: position ≤ 1/2, i.e. FID at most the geometric mean of the two references (≈ 100 at 2,000 samples);
* **rough digits**: position ≤ 3/4 (legible but noisy strokes: ≈ 480 at 2,000 samples);
* **under-trained**: beyond that.

A graded set whose predicted classes are uneven is marked **imbalanced**: one class above twice its share (20 % of
ten) or one below half of it (5 %), by the project's digit classifier. The reference rows grade themselves: real
digits are digits and balanced, noise is under-trained.

A conditional run is graded by the same rule and one more: it is called digits or rough digits only when the
classifier reads the requested digit in at least ``CONDITIONAL_ACCURACY`` (90 %) of its samples; below that, or
without a measured accuracy, it is **under-trained** whatever its FID (it draws digits, not the ones asked for).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

DIGITS, ROUGH, UNDER_TRAINED = "digits", "rough digits", "under-trained"  # MNIST's words; elsewhere "images"
DIGITS_POSITION, ROUGH_POSITION = 0.5, 0.75
IMBALANCE_FACTOR = 2.0  # a class above this many times its share, or below its share divided by it
CONDITIONAL_ACCURACY = 0.90  # a conditional run's least requested-digit accuracy for digits or rough digits


@dataclass(frozen=True)
class Grade:
    label: str  # DIGITS, ROUGH or UNDER_TRAINED
    imbalanced: bool
    position: float  # 0: the real-digit reference, 1: uniform noise
    reasons: tuple[str, ...]  # why it is not better (empty for balanced digits)

    @property
    def text(self) -> str:
        return self.label + (", imbalanced" if self.imbalanced and self.label != UNDER_TRAINED else "")


def fid_position(fid: float, real_fid: float, noise_fid: float) -> float:
    """Where ``fid`` lies on the log scale from the real-digit reference (0) to uniform noise (1); below the real
    reference (a finite-sample fluctuation) counts as 0."""
    if not 0 < real_fid < noise_fid:
        raise ValueError(f"reference FIDs must satisfy 0 < real < noise, got real {real_fid}, noise {noise_fid}")
    return max(0.0, math.log(max(fid, real_fid) / real_fid) / math.log(noise_fid / real_fid))


def fid_at(position: float, real_fid: float, noise_fid: float) -> float:
    """The FID at ``position`` of the scale: the thresholds in FID units for a table."""
    return real_fid * (noise_fid / real_fid) ** position


def class_shares(histogram: Sequence[float]) -> list[float]:
    total = float(sum(histogram))
    return [count / total for count in histogram] if total > 0 else []


def imbalance_reasons(histogram: Sequence[float], unit: str = "digit") -> list[str]:
    """What makes a class histogram uneven (empty when it is not): a class above ``IMBALANCE_FACTOR`` × its share,
    or below its share / ``IMBALANCE_FACTOR``. ``unit``: what a class is called (a digit on MNIST)."""
    shares = class_shares(histogram)
    if not shares:
        return []
    fair = 1.0 / len(shares)
    reasons = [f"{unit} {digit} is {share:.1%} of the samples" for digit, share in enumerate(shares)
               if share > IMBALANCE_FACTOR * fair or share < fair / IMBALANCE_FACTOR]
    return reasons


def grade(fid: float, histogram: Sequence[float] | None, real_fid: float, noise_fid: float,
          accuracy: float | None = None, subject: str = DIGITS, unit: str = "digit") -> Grade:
    """The grade of one sample set (see the module docstring). ``accuracy``: a conditional run's requested-class
    accuracy (NaN when it was not measured), None for an unconditional run. ``subject``, ``unit``: what the data
    set's images and classes are called (MNIST: digits, digit; elsewhere: images, class)."""
    position = fid_position(fid, real_fid, noise_fid)
    reasons = []
    if position <= DIGITS_POSITION:
        label = subject
    elif position <= ROUGH_POSITION:
        label = f"rough {subject}"
        reasons.append(f"FID {fid:.4g} is {position:.2f} of the way from real {subject}' {real_fid:.3g} to noise's "
                       f"{noise_fid:.4g} ({subject} ≤ {DIGITS_POSITION})")
    else:
        label = UNDER_TRAINED
        reasons.append(f"FID {fid:.4g} is {position:.2f} of the way from real {subject}' {real_fid:.3g} to noise's "
                       f"{noise_fid:.4g} (rough {subject} ≤ {ROUGH_POSITION})")
    if accuracy is not None and not accuracy >= CONDITIONAL_ACCURACY:  # NaN fails too
        label = UNDER_TRAINED
        reasons.append(f"no requested-{unit} accuracy was measured" if math.isnan(accuracy) else
                       f"the requested {unit} comes out in {accuracy:.1%} of the samples (a conditional run needs "
                       f"≥ {CONDITIONAL_ACCURACY:.0%})")
    uneven = imbalance_reasons(histogram or [], unit)
    return Grade(label, bool(uneven), position, tuple(reasons + uneven))


def rule_text(real_fid: float, noise_fid: float, samples: int | None, conditional: bool = False,
              subject: str = DIGITS, unit: str = "digit") -> str:
    """The rule with its thresholds in FID units at this sample count, for the report; ``conditional``: with the
    conditional runs' accuracy rule; ``subject``, ``unit`` as in ``grade``."""
    return (f"Grades, run by run, from the in-domain FID placed on a log scale between real training {subject} "
            f"(0: FID {real_fid:.3g}) and uniform noise (1: FID {noise_fid:.4g}) scored the same way"
            + (f" ({samples:,} samples)" if samples else "") + f": **{subject}** up to {DIGITS_POSITION} (FID ≤ "
            f"{fid_at(DIGITS_POSITION, real_fid, noise_fid):.0f}), **rough {subject}** up to {ROUGH_POSITION} (FID ≤ "
            f"{fid_at(ROUGH_POSITION, real_fid, noise_fid):.0f}), **under-trained** beyond; **imbalanced** when "
            f"the classifier puts one {unit} above {IMBALANCE_FACTOR / 10:.0%} of the samples or one below "
            f"{1 / (10 * IMBALANCE_FACTOR):.0%}. The same rule for every model; the reference rows grade "
            f"themselves as {subject} (real) and under-trained (noise)."
            + (f" A conditional run is called {subject} or rough {subject} only when the classifier reads the "
               f"requested {unit} in at least {CONDITIONAL_ACCURACY:.0%} of its samples; below that (or unmeasured) "
               "it is **under-trained**, whatever its FID." if conditional else ""))
