"""The report's tables as DataFrames: framework comparisons with the reference columns, the per-model verdict,
and the parity (lockstep, defaults audit) tables."""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark import eval_format as ev
from benchmark import runs
from benchmark.report.collect import SuiteData
from benchmark.report import grading
from benchmark.report.columns import (ACCURACY, FID_POSITION, GRADE, INITIAL_WEIGHTS, LARGEST_CLASS, CLASSIFIER_FID,
                                      PRETTY, SMALLEST_CLASS, Metric)
from benchmark.report.stats import (CONFIDENCE, mean_std, number, numeric_values, paired_differences, paired_test,
                                    paired_text, saturated, welch)

REAL_LABEL, NOISE_LABEL = "real training images (floor)", "uniform noise (ceiling)"
SATURATED = "saturated"


def comparison_table(data: SuiteData, model: str, metrics: tuple[Metric, ...],
                     with_references: bool = False, timings: bool = False) -> pd.DataFrame:
    """Rows: metrics; columns: the reference rows (``with_references``), one per framework (mean ± std over
    seeds), then per other framework Welch's test against the first, the paired differences and the paired test.
    ``timings`` of runs that shared the machine are never called significant."""
    frame = data.table[(data.table["model"] == model) & data.table["status"].isin([runs.COMPLETED])]
    frameworks = data.frameworks
    seeds = {f: int((frame["framework"] == f).sum()) for f in frameworks}
    references = data.references if with_references else {}
    contended = timings and data.shared_machine
    rows = []
    for metric in metrics:
        samples = {f: numeric_values(frame[frame["framework"] == f], metric.column) for f in frameworks}
        if not any(len(v) for v in samples.values()):
            continue
        arrow = {"lower": " ↓", "higher": " ↑"}.get(metric.better, "")
        row = {"metric": metric.label + arrow + (f" ({SATURATED})" if saturated(metric, references) else "")}
        for key, label in ((ev.REFERENCE_REAL, REAL_LABEL), (ev.REFERENCE_NOISE, NOISE_LABEL)):
            if references:
                value = references.get(key, {}).get(metric.column)
                row[label] = number(value, metric.digits) if value is not None else "—"
        for f in frameworks:
            row[f"{PRETTY.get(f, f)} (n={seeds[f]})"] = mean_std(samples[f], metric.digits, seeds[f])
        reference = frameworks[0]
        for f in frameworks[1:]:
            versus = f"{PRETTY.get(f, f)} − {PRETTY.get(reference, reference)}"
            _, text = welch(samples[reference], samples[f], contended)
            row[f"Welch t-test {PRETTY.get(f, f)} vs {PRETTY.get(reference, reference)}"] = text
            differences = paired_differences(frame, metric.column, f, reference)
            row[f"paired Δ {versus}: mean [{CONFIDENCE * 100:g} % CI] or range"] = paired_text(differences,
                                                                                              metric.digits)
            row[f"paired test {versus}"] = paired_test(differences.to_numpy(), contended).text
        rows.append(row)
    return pd.DataFrame(rows)


def framework_grades(data: SuiteData, model: str, framework: str) -> pd.DataFrame:
    """The completed, scored runs of one model and framework, by seed, with their grade (``grading``)."""
    frame = data.table[(data.table["model"] == model) & (data.table["status"] == runs.COMPLETED)
                       & (data.table["framework"] == framework)]
    return frame[pd.to_numeric(frame.get(CLASSIFIER_FID), errors="coerce").notna()].sort_values("seed")


def grade_phrase(part: pd.DataFrame) -> str:
    """"digits" when every seed has the same grade, else each seed's; then each seed's FID and class balance."""
    grades = list(part[GRADE])
    head = f"**{grades[0]}**" if len(set(grades)) == 1 else "mixed: " + ", ".join(
        f"seed {seed} **{g}**" for seed, g in zip(part["seed"], grades))
    details = []
    for _, row in part.iterrows():
        balance = "" if pd.isna(row.get(LARGEST_CLASS)) else (
            f", largest class {row[LARGEST_CLASS]:.1%}, smallest {row[SMALLEST_CLASS]:.1%}")
        asked = "" if pd.isna(row.get(ACCURACY)) else f", requested class {row[ACCURACY]:.1%}"
        details.append(f"seed {row['seed']}: classifier FID {number(row[CLASSIFIER_FID])}, position "
                       f"{row[FID_POSITION]:.2f}{balance}{asked}")
    return f"{head} ({'; '.join(details)})"


def verdict(data: SuiteData, model: str) -> tuple[list[str], bool]:
    """One phrase per framework with every seed's grade, FID and class balance, and whether any run is
    under-trained. Runs are graded one by one (``grading``), never as a mean over seeds."""
    phrases, under = [], False
    for framework in data.frameworks:
        part = framework_grades(data, model, framework)
        if part.empty:
            continue
        name = PRETTY.get(framework, framework)
        if part[GRADE].isna().all():
            phrases.append(f"{name}: ungraded (no reference rows at this sample count)")
            continue
        part = part[part[GRADE].notna()]
        under = under or (part[GRADE] == grading.UNDER_TRAINED).any()
        phrases.append(f"{name}: {grade_phrase(part)}")
    return phrases, bool(under)


def pairing(data: SuiteData, model: str) -> str | None:
    """Whether each seed's runs of ``model`` really are pairs: the same initial-weight fingerprint
    (``config.json -> environment.initial_weights``) in every framework. None with fewer than two frameworks."""
    frame = data.table[(data.table["model"] == model) & (data.table["status"] == runs.COMPLETED)]
    if frame["framework"].nunique() < 2 or INITIAL_WEIGHTS not in frame:
        return None
    same, broken = [], []
    for seed, part in frame.groupby("seed"):
        if part["framework"].nunique() < 2:
            continue
        prints = part.set_index("framework")[INITIAL_WEIGHTS]
        label = int(seed) if float(seed).is_integer() else seed
        if prints.isna().any():
            broken.append(f"seed {label}: " + ", ".join(PRETTY.get(f, f) for f in prints[prints.isna()].index)
                          + " recorded no fingerprint")
        elif prints.nunique() == 1:
            same.append(f"{label} ({prints.iloc[0][:12]})")
        else:
            broken.append(f"seed {label}: " + ", ".join(f"{PRETTY.get(f, f)} {p[:12]}" for f, p in prints.items()))
    if broken:
        return ("**Not paired**: the runs of a seed are not shown to start from the same initial weights ("
                + "; ".join(broken) + "), so the paired columns may compare unpaired runs." + (
                    f" Paired seeds: {', '.join(same)}." if same else ""))
    if not same:
        return None
    return ("Pairing checked: for every seed both frameworks started from the same initial weights (SHA-256 "
            "of the initial parameters, first 12 hex digits, per seed: " + ", ".join(same) + ").")


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
        return number(value, 3)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_compact(v)}" for k, v in value.items())
    if isinstance(value, list):
        if len(value) > 4 and all(isinstance(v, (int, float)) for v in value):
            return f"[{len(value)} values, mean {number(float(np.mean(value)), 3)}]"
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
