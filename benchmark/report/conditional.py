"""A conditional model's part of its section: every run's requested-digit accuracy and intra-class MNIST-FID (each
with its worst digit named) and its whole-set metrics, under the two reference rows scored the same way."""
from __future__ import annotations

import pandas as pd

from benchmark import eval_format as ev
from benchmark import runs
from benchmark.report.collect import SuiteData
from benchmark.report.columns import (ACCURACY, DIGITS_COVERED, GRADE, INTRA_FID, KL_TO_UNIFORM, MNIST_FID, MNIST_IS,
                                      PRETTY, WORST_ACCURACY, WORST_ACCURACY_CLASS, WORST_INTRA_FID,
                                      WORST_INTRA_FID_CLASS)
from benchmark.report.stats import number

REFERENCE_ROWS = {ev.REFERENCE_REAL: "real training digits, their true labels (floor)",
                  ev.REFERENCE_NOISE: "uniform noise, the evaluation labels (ceiling)"}


def _share(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.1%}"


def _worst(row: dict | pd.Series, digit: str, value: str, text) -> str:
    if row.get(digit) is None or pd.isna(row.get(digit)):
        return "—"
    return f"digit {int(row[digit])}: {text(row[value])}"


def _cells(row: dict | pd.Series) -> dict:
    """One line of the runs table from a summary row (a run's or a reference set's columns)."""
    return {
        "requested-digit accuracy ↑": _share(row.get(ACCURACY)),
        "worst digit (accuracy)": _worst(row, WORST_ACCURACY_CLASS, WORST_ACCURACY, _share),
        "intra-class MNIST-FID ↓ (mean)": number(row.get(INTRA_FID), 4),
        "worst digit (intra-class FID)": _worst(row, WORST_INTRA_FID_CLASS, WORST_INTRA_FID, number),
        "MNIST-FID ↓ (whole set)": number(row.get(MNIST_FID), 4),
        "MNIST-IS ↑": number(row.get(MNIST_IS), 3),
        "digits covered": number(row.get(DIGITS_COVERED), 2),
        "KL to uniform ↓": number(row.get(KL_TO_UNIFORM), 2),
    }


def runs_table(data: SuiteData, model: str) -> pd.DataFrame:
    """The reference rows, then one row per framework and seed of ``model``'s completed runs, with their grade."""
    rows = [{"samples": label, **_cells(data.references[key]), "grade": "—"}
            for key, label in REFERENCE_ROWS.items() if key in data.references]
    frame = data.table[(data.table["model"] == model) & (data.table["status"] == runs.COMPLETED)]
    for framework in data.frameworks:
        for _, row in frame[frame["framework"] == framework].sort_values("seed").iterrows():
            grade = row.get(GRADE) if isinstance(row.get(GRADE), str) else "ungraded"
            rows.append({"samples": f"{PRETTY.get(framework, framework)}, seed {row['seed']}", **_cells(row),
                         "grade": grade})
    return pd.DataFrame(rows)


def conditional_text(data: SuiteData, model: str) -> str:
    """What the runs table holds and where the reference rows come from (or how to compute them)."""
    count = data.suite.get("profile", {}).get("num_samples")
    if ev.REFERENCE_REAL in data.references and data.references[ev.REFERENCE_REAL].get(ACCURACY) is not None:
        references = ("The reference rows are scored the same way: real training digits with their true labels "
                      "(the classifier's own accuracy and the intra-class FID floor) and uniform noise with the "
                      "labels a run requests (one digit in ten by chance).")
    else:
        references = ("No conditional reference rows at this sample count: compute them with `python -m "
                      f"benchmark.references {data.out.as_posix()}/{ev.REFERENCES_DIR} --num-samples {count or 'N'} "
                      "--force`.")
    return (f"`{model}` generates the digit it is asked for: every run's scored samples"
            + (f" ({count:,})" if count else "") + " request the digits 0-9 in turn. Requested-digit accuracy is "
            "the share the classifier reads as the requested digit; the intra-class MNIST-FID scores each digit's "
            "samples against that digit's test images (mean over digits; the worst digit named). " + references)
