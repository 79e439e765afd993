"""Reading a suite folder into one table: a row per run (``suite.json`` records and run folders), plus the
reference rows. Reads files only; no framework is imported. Files written before the classifier was one per data
set (``mnist`` metric names, e.g. the committed results) are read under today's names (``eval_format.upgraded``,
``read_summary``)."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark import datasets
from benchmark import eval_format as ev
from benchmark import runs
from benchmark.report import grading
from benchmark.profiles import Profile
from benchmark.frameworks import FrameworkError, find
from benchmark.report.columns import (ACCURACY, CLASS_HISTOGRAM, CLASSIFIER, CLASSIFIER_FID, COMPILE_SECONDS,
                                      CONDITIONAL, CURVE_LAST_FID, CLASSES_COVERED, FID_POSITION, FRAMEWORK_ORDER,
                                      GRADE, IMAGES_PER_SECOND, INCEPTION, INITIAL_WEIGHTS, INTRA_FID,
                                      INTRA_FID_PER_CLASS, KL_TO_UNIFORM, LARGEST_CLASS, LEGACY_COLUMNS,
                                      NUM_SAMPLES_SCORED, OTHER_CPU_SHARE, PER_CLASS_ACCURACY,
                                      SETUP_SECONDS, SMALLEST_CLASS, STARTUP_SECONDS, STEADY_MS_PER_STEP,
                                      TRAIN_SECONDS, WARMUP_SECONDS, WORST_ACCURACY, WORST_ACCURACY_CLASS,
                                      WORST_INTRA_FID, WORST_INTRA_FID_CLASS)
from benchmark.suite import RUNS_DIR, SUITE_FILE


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text()) if path.is_file() else default
    except (json.JSONDecodeError, OSError):
        return default


def framework_label(config: dict) -> str:
    """The registry's run name (``pytorch``, ``pytorch-compile``, ``keras-<backend>``, ...) from a config.json."""
    framework = config.get("framework") or ""
    if framework.startswith("keras") or framework in ("tensorflow", "tensorflow_impl"):
        family = "keras"
        backend = config.get("backend") or (framework[len("keras-"):] if framework.startswith("keras-") else "tensorflow")
    else:
        family, backend = framework, None
    try:
        return find(family, backend, (config.get("environment") or {}).get("execution_mode")).name
    except FrameworkError:
        return framework


def _sum(*values) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return float(sum(numbers)) if numbers else None


def _get(block: dict | None, key: str):
    value = (block or {}).get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _worst(per_class: list | None, worst=min) -> tuple[int | None, float | None]:
    """(class, value) of the worst entry of a per-class list (``min`` for an accuracy, ``max`` for an FID), nulls
    skipped; (None, None) when there is none."""
    scored = [(value, c) for c, value in enumerate(per_class or []) if isinstance(value, (int, float))]
    if not scored:
        return None, None
    value, c = worst(scored)
    return c, float(value)


def conditional_columns(block: dict | None) -> dict:
    """The conditional columns of one eval.json's ``conditional`` block (all None without one)."""
    if not block:
        return dict.fromkeys((ACCURACY, WORST_ACCURACY_CLASS, WORST_ACCURACY, PER_CLASS_ACCURACY, INTRA_FID,
                              WORST_INTRA_FID_CLASS, WORST_INTRA_FID, INTRA_FID_PER_CLASS))
    accuracies, fids = block.get(ev.KEY_PER_CLASS_ACCURACY), block.get(ev.KEY_INTRA_FID_PER_CLASS)
    worst_accuracy_class, worst_accuracy = _worst(accuracies, min)
    worst_fid_class, worst_fid = _worst(fids, max)
    return {ACCURACY: _get(block, ev.KEY_ACCURACY), WORST_ACCURACY_CLASS: worst_accuracy_class,
            WORST_ACCURACY: worst_accuracy, PER_CLASS_ACCURACY: accuracies, INTRA_FID: _get(block, ev.KEY_INTRA_FID),
            WORST_INTRA_FID_CLASS: worst_fid_class, WORST_INTRA_FID: worst_fid, INTRA_FID_PER_CLASS: fids}


def read_summary(path: Path) -> pd.DataFrame:
    """A summary.csv under today's column names, whichever version of the report wrote it."""
    return pd.read_csv(path).rename(columns=LEGACY_COLUMNS)


def eval_columns(evaluation: dict) -> dict:
    """The summary columns of one eval.json (or one reference set, which has the same blocks), old names read."""
    evaluation = ev.upgraded(evaluation)
    scores, inception = evaluation.get(ev.KEY_CLASSIFIER), evaluation.get(ev.KEY_INCEPTION) or {}
    cover = evaluation.get(ev.KEY_COVERAGE) or {}
    histogram = cover.get(ev.KEY_HISTOGRAM)
    shares = grading.class_shares(histogram) if histogram else []
    return {
        NUM_SAMPLES_SCORED: evaluation.get(ev.KEY_NUM_SAMPLES),
        **{column: _get(scores, key) for key, column in CLASSIFIER.items()},
        "inception_available": bool(inception.get(ev.KEY_AVAILABLE)) if evaluation else None,
        "inception_reason": inception.get(ev.KEY_REASON),
        "inception_official_weights": inception.get(ev.KEY_OFFICIAL_WEIGHTS),
        **{column: _get(inception, key) if inception.get(ev.KEY_OFFICIAL_WEIGHTS) else None
           for key, column in INCEPTION.items()},
        CLASSES_COVERED: _get(cover, ev.KEY_DIGITS_COVERED),
        KL_TO_UNIFORM: _get(cover, ev.KEY_KL_TO_UNIFORM),
        CLASS_HISTOGRAM: histogram,
        LARGEST_CLASS: max(shares) if shares else None,
        SMALLEST_CLASS: min(shares) if shares else None,
        **conditional_columns(evaluation.get(ev.KEY_CONDITIONAL)),
    }


def run_row(run_dir: Path, record: dict | None) -> dict:
    """One summary.csv row from a run folder and the suite's record of it (either may be incomplete)."""
    record = record or {}
    config = read_json(run_dir / runs.CONFIG, {})
    timing = read_json(run_dir / runs.TIMING, {})
    result = read_json(run_dir / runs.RESULT, {})
    evaluation = read_json(run_dir / ev.EVAL_FILE, {})
    curve = ev.upgraded_curve(read_json(run_dir / ev.CURVE_FILE, []))
    environment = config.get("environment", {})
    per_step = timing.get("steady_seconds_per_step")
    status = record.get("status") or result.get("status") or "unknown"
    row = {
        "run": record.get("name") or run_dir.name,
        "model": record.get("model") or config.get("model"),
        "framework": record.get("framework") or framework_label(config),
        "seed": record.get("seed", config.get("seed")),
        "status": status,
        "exit_code": record.get("exit_code", result.get("exit_code")),
        "exit": record.get("exit"),
        "steps_planned": record.get("steps") or config.get("steps"),
        "steps_done": result.get("step"),
        "epochs": config.get("epochs"),
        "batch_size": config.get("batch_size"),
        TRAIN_SECONDS: timing.get("train_seconds"),
        SETUP_SECONDS: timing.get("setup_seconds"),
        COMPILE_SECONDS: environment.get("compile_seconds"),
        WARMUP_SECONDS: timing.get("warmup_seconds"),
        STARTUP_SECONDS: _sum(environment.get("compile_seconds"), timing.get("warmup_seconds")),
        STEADY_MS_PER_STEP: per_step * 1000 if per_step else None,
        IMAGES_PER_SECOND: timing.get("images_per_second"),
        "process_seconds": timing.get("total_seconds"),
        "train_wall_seconds": record.get("train_wall_seconds"),
        OTHER_CPU_SHARE: record.get("other_cpu_share"),
        "eval_wall_seconds": record.get("eval_wall_seconds"),
        "eval_exit_code": record.get("eval_exit_code"),
        "evaluated": bool(evaluation),
        CONDITIONAL: bool((config.get("spec") or {}).get("conditioning") or evaluation.get(ev.KEY_CONDITIONAL)),
        **eval_columns(evaluation),
        "curve_points": len(curve),
        CURVE_LAST_FID: curve[-1].get(ev.KEY_CLASSIFIER_FID) if curve else None,
        "device": environment.get("device"),
        "device_name": environment.get("device_name"),
        "node": (record.get("node") or {}).get("hostname"),
        "determinism": environment.get("determinism"),
        INITIAL_WEIGHTS: (environment.get("initial_weights") or {}).get("sha256"),
        "backend": config.get("backend"),
        "git_commit": config.get("git_commit"),
        "run_dir": str(run_dir),
        "log_tail": "\n".join(record.get("log_tail") or record.get("eval_log_tail") or []),
    }
    return row


@dataclass
class SuiteData:
    out: Path
    suite: dict
    table: pd.DataFrame
    run_dirs: dict[str, Path] = field(default_factory=dict)
    references: dict[str, dict] = field(default_factory=dict)  # REFERENCE_REAL / _NOISE -> eval_columns

    @property
    def dataset(self) -> str:
        """The suite's data set (``suite.json``; one from before ``--dataset`` trained MNIST)."""
        return self.suite.get("dataset", datasets.DEFAULT_DATASET)

    @property
    def dataset_title(self) -> str:
        entry = datasets.DATASETS.get(self.dataset)
        return entry.title if entry else self.dataset

    @property
    def images(self) -> str:
        """What the data set's images are called in the report's text and grades: digits on MNIST."""
        return words(self.dataset)[0]

    @property
    def unit(self) -> str:
        """What one of its classes is called: a digit on MNIST."""
        return words(self.dataset)[1]

    @property
    def frameworks(self) -> list[str]:
        present = set(self.table["framework"].dropna()) if len(self.table) else set()
        planned = self.suite.get("options", {}).get("frameworks") or []
        ordered = [f for f in list(planned) + list(FRAMEWORK_ORDER) if f in present]
        return list(dict.fromkeys(ordered + sorted(present - set(ordered))))

    @property
    def shared_machine(self) -> bool:
        """Whether the runs trained side by side (``--jobs`` > 1) or under other processes' load (more than 10 % of
        the CPU): their timings then measure the sharing as much as the framework."""
        jobs = self.suite.get("options", {}).get("jobs") or 1
        share = pd.to_numeric(self.table.get(OTHER_CPU_SHARE, pd.Series(dtype=float)), errors="coerce")
        return jobs > 1 or bool((share > 0.10).any())

    @property
    def models(self) -> list[str]:
        planned = self.suite.get("options", {}).get("models") or []
        present = list(dict.fromkeys(self.table["model"].dropna())) if len(self.table) else []
        return list(dict.fromkeys([m for m in planned if m in present] + present))

    @property
    def conditional_models(self) -> list[str]:
        """The models whose runs condition on a label (their sections add the conditional metrics and class grids)."""
        flagged = set(self.table.loc[self.table[CONDITIONAL], "model"]) if CONDITIONAL in self.table else set()
        return [model for model in self.models if model in flagged]


def collect(out: Path) -> SuiteData:
    """Every planned run (from suite.json) and every run folder found, one row each."""
    out = Path(out)
    suite = read_json(out / SUITE_FILE, {})
    records = suite.get("runs", {})
    names = list(dict.fromkeys(list(suite.get("plan", [])) + list(records)
                               + sorted(p.name for p in (out / RUNS_DIR).glob("*") if p.is_dir())))
    plan = suite.get("plan", [])
    rows, run_dirs = [], {}
    for name in names:
        record = records.get(name)
        run_dir = out / (record.get("run_dir") if record else f"{RUNS_DIR}/{name}")
        if record is None and not (run_dir / runs.CONFIG).exists():
            if name in plan:
                rows.append({"run": name, "status": "pending"})
            continue
        if record is not None and plan and name not in plan and not run_dir.is_dir():
            continue  # an earlier invocation's run (another profile length or model list) whose folder is gone
        row = run_row(run_dir, record)
        row["run_dir"] = str(run_dir.relative_to(out)) if run_dir.is_relative_to(out) else str(run_dir)
        rows.append(row)
        run_dirs[name] = run_dir
    table = pd.DataFrame(rows)
    for column in ("model", "framework", "seed", "status"):
        if column not in table:
            table[column] = None
    table[CONDITIONAL] = table[CONDITIONAL].fillna(False).astype(bool) if CONDITIONAL in table else False
    references = read_references(out, table, suite)
    dataset = suite.get("dataset", datasets.DEFAULT_DATASET)
    table[FID_POSITION], table[GRADE] = zip(*(grade_row(row, references, dataset) for _, row in table.iterrows())) \
        if len(table) else ((), ())
    return SuiteData(out, suite, table, run_dirs, references)


def words(dataset: str) -> tuple[str, str]:
    """What a data set's images and one of its classes are called in the report and its grades."""
    return ("digits", "digit") if dataset == "mnist" else ("images", "class")


def grade_row(row: pd.Series | dict, references: dict[str, dict],
              dataset: str = datasets.DEFAULT_DATASET) -> tuple[float | None, str | None]:
    """(position, grade text) of one scored set against the reference rows; (None, None) without a score or rows."""
    real = references.get(ev.REFERENCE_REAL, {}).get(CLASSIFIER_FID)
    noise = references.get(ev.REFERENCE_NOISE, {}).get(CLASSIFIER_FID)
    fid = row.get(CLASSIFIER_FID)
    if real is None or noise is None or fid is None or not math.isfinite(fid) or not 0 < real < noise:
        return None, None
    histogram = row.get(CLASS_HISTOGRAM)
    accuracy = None
    if row.get(CONDITIONAL):  # a conditional run without a measured accuracy fails the accuracy rule (NaN)
        accuracy = row.get(ACCURACY) if isinstance(row.get(ACCURACY), (int, float)) else math.nan
    subject, unit = words(dataset)
    result = grading.grade(fid, histogram if isinstance(histogram, list) else None, real, noise, accuracy,
                           subject=subject, unit=unit)
    return result.position, result.text


def read_references(out: Path, table: pd.DataFrame, suite: dict) -> dict[str, dict]:
    """The reference rows scored at the runs' sample count (``benchmark.references``), else {}."""
    counts = pd.to_numeric(table.get(NUM_SAMPLES_SCORED, pd.Series(dtype=float)), errors="coerce").dropna()
    profile = suite.get("profile", {})
    count = int(counts.mode().iloc[0]) if len(counts) else profile.get("num_samples")
    if not count:
        return {}
    name = ev.reference_file_name(count, profile.get("reference_count") or ev.DEFAULT_REFERENCE_COUNT)
    sets = read_json(out / ev.REFERENCES_DIR / name, {}).get(ev.KEY_SETS, {})
    return {key: eval_columns(sets[key]) for key in ev.REFERENCE_SETS if isinstance(sets.get(key), dict)}


def suite_profile(suite: dict) -> Profile | None:
    """The suite's profile as ``suite.json`` recorded it (None when it is missing or from another version)."""
    required = dict(name="?", description="", seeds=(), num_samples=0, curve_samples=0, curve_points=0,
                    grid_points=0, log_points=0)
    recorded = required | (suite.get("profile") or {})
    known = {f.name for f in dataclasses.fields(Profile)}
    try:
        return Profile(**{k: tuple(v) if k == "seeds" else v for k, v in recorded.items() if k in known})
    except (TypeError, ValueError):
        return None
