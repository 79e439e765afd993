"""A conditional model's part of its section: every run's requested-class accuracy and intra-class classifier FID
(each with its worst class named) and its whole-set metrics, under the two reference rows scored the same way."""
from __future__ import annotations

import pandas as pd

from benchmark import eval_format as ev
from benchmark import runs
from benchmark.report.collect import SuiteData
from benchmark.report.columns import (ACCURACY, CLASSIFIER_FID, CLASSIFIER_IS, CLASSES_COVERED, GRADE, INTRA_FID,
                                      KL_TO_UNIFORM, PRETTY, WORST_ACCURACY, WORST_ACCURACY_CLASS, WORST_INTRA_FID,
                                      WORST_INTRA_FID_CLASS)
from benchmark.report.stats import number

REFERENCE_ROWS = {ev.REFERENCE_REAL: "real training images, their true labels (floor)",
                  ev.REFERENCE_NOISE: "uniform noise, the evaluation labels (ceiling)"}


def _share(value) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.1%}"


def _worst(row: dict | pd.Series, label: str, value: str, text) -> str:
    if row.get(label) is None or pd.isna(row.get(label)):
        return "—"
    return f"class {int(row[label])}: {text(row[value])}"


def _cells(row: dict | pd.Series) -> dict:
    """One line of the runs table from a summary row (a run's or a reference set's columns)."""
    return {
        "requested-class accuracy ↑": _share(row.get(ACCURACY)),
        "worst class (accuracy)": _worst(row, WORST_ACCURACY_CLASS, WORST_ACCURACY, _share),
        "intra-class classifier FID ↓ (mean)": number(row.get(INTRA_FID), 4),
        "worst class (intra-class FID)": _worst(row, WORST_INTRA_FID_CLASS, WORST_INTRA_FID, number),
        "classifier FID ↓ (whole set)": number(row.get(CLASSIFIER_FID), 4),
        "classifier IS ↑": number(row.get(CLASSIFIER_IS), 3),
        "classes covered": number(row.get(CLASSES_COVERED), 2),
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
        references = (f"The reference rows are scored the same way: real training {data.images} with their true "
                      "labels (the classifier's own accuracy and the intra-class FID floor) and uniform noise with "
                      "the labels a run requests (one class in ten by chance).")
    else:
        references = ("No conditional reference rows at this sample count: compute them with `python -m "
                      f"benchmark.references {data.out.as_posix()}/{ev.REFERENCES_DIR} --num-samples {count or 'N'} "
                      "--force`.")
    return (f"`{model}` generates the class it is asked for: every run's scored samples"
            + (f" ({count:,})" if count else "") + " request the classes 0-9 in turn. Requested-class accuracy is "
            f"the share the {data.dataset_title} classifier reads as the requested class; the intra-class classifier "
            "FID scores each class's samples against that class's test images (mean over classes; the worst class "
            "named). " + references)
