"""The report's first screen: per model, each framework's quality grade and in-domain FID, the paired difference,
and the speed verdicts (as users run them by default, each on its fastest path), each linking to its section."""
from __future__ import annotations

import pandas as pd

from benchmark.report.collect import SuiteData
from benchmark.report.columns import ACCURACY, GRADE, CLASSIFIER_FID, PRETTY
from benchmark.report.document import anchor
from benchmark.report.speed_verdicts import comparisons, short_idiom, short_verdict
from benchmark.report.stats import number, paired_differences
from benchmark.report.tables import framework_grades


def quality_cell(data: SuiteData, model: str, framework: str) -> str:
    """"digits: FID 36.1, 41.0" (every seed's grade and classifier FID, in seed order; a conditional model's with
    "; requested class 95.8%, 96.0%"), "—" when nothing was scored."""
    part = framework_grades(data, model, framework)
    if part.empty:
        return "—"
    fids = ", ".join(number(value, 3) for value in part[CLASSIFIER_FID])
    if ACCURACY in part and part[ACCURACY].notna().any():
        fids += "; requested class " + ", ".join("—" if pd.isna(value) else f"{value:.1%}"
                                                 for value in part[ACCURACY])
    grades = [g for g in part[GRADE] if isinstance(g, str)]
    if not grades:
        return f"ungraded: FID {fids}"
    head = grades[0] if len(set(grades)) == 1 else " / ".join(grades)
    return f"{head}: FID {fids}"


def paired_cell(data: SuiteData, model: str, framework: str, reference: str) -> str:
    """The per-seed FID differences ``framework`` − ``reference`` (same seed, same initial weights and inputs)."""
    frame = data.table[data.table["model"] == model]
    differences = paired_differences(frame, CLASSIFIER_FID, framework, reference)
    if differences.empty:
        return "—"
    return f"{number(float(differences.mean()), 3)} (" + ", ".join(
        f"seed {seed}: {number(float(value), 3)}" for seed, value in differences.items()) + ")"


def speed_cells(report: dict | None, model: str) -> tuple[str, str]:
    """(by default, fastest) short verdicts at the model's first timed batch size, or why there are none. By default
    Keras is ``Model.fit`` when it was timed, with the stateless step and the fit/stateless ratio beside it."""
    if report is None:
        return "no speed phase", "no speed phase"
    found = [value for (timed, _), value in comparisons(report).items() if timed == model]
    if not found:
        return "not timed", "not timed"
    first = found[0]
    stateless = "; ".join(short_verdict(pytorch, keras) for pytorch, keras in first["default"]) or "—"
    by_default = stateless
    if first["fit"]:
        by_default = ("PyTorch eager vs Keras Model.fit: "
                      + "; ".join(short_verdict(pytorch, fit) for pytorch, fit in first["fit"])
                      + f" (stateless Keras step: {stateless}"
                      + "".join(f"; {short_idiom(base, fit)}" for base, fit in first["idiom"]) + ")")
    return by_default, short_verdict(*first["fastest"])


def summary_table(data: SuiteData, speed_report: dict | None) -> pd.DataFrame:
    """One row per model: the answer to "same quality, and which is faster?" with links to the details."""
    frameworks = data.frameworks
    reference = frameworks[0] if frameworks else None
    rows = []
    for model in data.models:
        row = {"model": f"[`{model}`](#{anchor(f'Model `{model}`')})"}
        for framework in frameworks:
            row[f"{PRETTY.get(framework, framework)}: grade, classifier FID per seed"] = quality_cell(data, model,
                                                                                                      framework)
        for framework in frameworks[1:]:
            versus = f"{PRETTY.get(framework, framework)} − {PRETTY.get(reference, reference)}"
            row[f"paired Δ FID {versus}"] = paired_cell(data, model, framework, reference)
        row["speed, as users run them by default"], row["speed, each on its fastest path"] = speed_cells(
            speed_report, model)
        rows.append(row)
    return pd.DataFrame(rows)
