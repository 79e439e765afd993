"""The evaluation's file names and JSON keys, without importing torch: shared by ``benchmark.evaluate`` (which
writes them), ``benchmark.references`` and the report (which only reads them); and whether a run folder's scores
are those of its current samples (``scores_current``, ``curve_current``), which the suite asks before it skips an
evaluation.

``eval.json``, ``curve.json`` and a reference file are described in ``benchmark.evaluate``'s docstring and in
``benchmark.references``'s.
"""
from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from benchmark import runs
from benchmark.checkpoints import file_sha256

DEFAULT_REFERENCE_SPLIT, DEFAULT_REFERENCE_COUNT = "test", 10_000  # the real side of every comparison
# Each data set's in-domain classifier (``benchmark.classifier``): ``<dataset>_classifier.pt`` and its JSON record, in
# ``$GANBENCH_CLASSIFIER_DIR`` when it is set, else in ``benchmark/assets`` (MNIST's is committed there).
CLASSIFIER_DIR_ENV = "GANBENCH_CLASSIFIER_DIR"
ASSETS_DIR = Path(__file__).resolve().parent / "assets"


def classifier_weights(dataset: str) -> Path:
    """The weights of ``dataset``'s classifier: in ``$GANBENCH_CLASSIFIER_DIR`` when it holds them, else in
    ``benchmark/assets`` (so MNIST's committed weights stay found); a missing one's path is where ``classifier
    train`` writes it (the first of the two folders)."""
    name = f"{dataset}_classifier.pt"
    folders = [Path(folder).expanduser() for folder in (os.environ.get(CLASSIFIER_DIR_ENV),) if folder] + [ASSETS_DIR]
    return next((folder / name for folder in folders if (folder / name).is_file()), folders[0] / name)


def train_classifier_command(dataset: str) -> str:
    return f"python -m benchmark.classifier train --dataset {dataset}"


def unevaluated_reason(dataset: str) -> str | None:
    """Why samples of ``dataset`` cannot be scored here (one line), or None when they can: its classifier's
    weights are missing."""
    path = classifier_weights(dataset)
    if path.is_file():
        return None
    return f"{path}: no classifier weights for {dataset}; train them with `{train_classifier_command(dataset)}`"


EVAL_FILE, CURVE_FILE, SAMPLES_FILE, EVAL_SAMPLES_DIR = "eval.json", "curve.json", "samples.npz", "eval_samples"
# eval.json, top level
KEY_RUN, KEY_CLASSIFIER, KEY_INCEPTION, KEY_COVERAGE = "run", "classifier", "inception", "coverage"
KEY_DATASET = "dataset"  # the data set scored (its classifier, its reference images)
KEY_NUM_SAMPLES, KEY_REFERENCE, KEY_SECONDS, KEY_VERSIONS = "num_samples", "reference", "seconds", "versions"
# metric blocks
KEY_FID, KEY_IS_MEAN, KEY_IS_STD = "fid", "is_mean", "is_std"
KEY_KID_MEAN, KEY_KID_STD, KEY_PRECISION, KEY_RECALL = "kid_mean", "kid_std", "precision", "recall"
KEY_AVAILABLE, KEY_REASON, KEY_WEIGHTS_SHA256, KEY_OFFICIAL_WEIGHTS = (
    "available", "reason", "weights_sha256", "official_weights")
CLASSIFIER_KEYS = (KEY_FID, KEY_IS_MEAN, KEY_IS_STD, KEY_KID_MEAN, KEY_KID_STD, KEY_PRECISION, KEY_RECALL)
INCEPTION_KEYS = (KEY_FID, KEY_IS_MEAN, KEY_IS_STD, KEY_KID_MEAN, KEY_KID_STD)
# coverage block
KEY_HISTOGRAM, KEY_DIGITS_COVERED, KEY_KL_TO_UNIFORM = "histogram", "digits_covered", "kl_to_uniform"
# conditional block (null for samples without requested labels): how often the requested digit comes out, and
# FID per class against that class's real test digits
KEY_CONDITIONAL, KEY_ACCURACY, KEY_PER_CLASS_ACCURACY = "conditional", "accuracy", "per_class_accuracy"
KEY_INTRA_FID, KEY_INTRA_FID_PER_CLASS, KEY_WORST_CLASS = "intra_class_fid", "intra_class_fid_per_class", "worst_class"
# curve.json entries
KEY_STEP, KEY_ELAPSED, KEY_CLASSIFIER_FID = "step", "elapsed", "classifier_fid"
# eval.json and every curve.json entry: the SHA-256 of the samples file scored
KEY_SAMPLES_SHA256 = "samples_sha256"

# Reference rows (benchmark.references): OUT/references/<reference_file_name(...)>, one eval.json-like block per
# reference set, under these keys.
REFERENCES_DIR = "references"
REFERENCE_REAL, REFERENCE_NOISE = "real_train", "uniform_noise"
REFERENCE_SETS = (REFERENCE_REAL, REFERENCE_NOISE)
KEY_SETS, KEY_SAMPLE_SEED = "sets", "sample_seed"
# eval.json's versions block: the classifier's weights file hash
KEY_CLASSIFIER_SHA256 = "classifier_sha256"

# The names before the classifier was one per data set (files written then, e.g. the committed results, use them).
LEGACY_KEYS = {"mnist": KEY_CLASSIFIER, "mnist_fid": KEY_CLASSIFIER_FID,
               "mnist_classifier_sha256": KEY_CLASSIFIER_SHA256}


def _current_names(block: dict) -> dict:
    return {LEGACY_KEYS.get(key, key): value for key, value in block.items()}


def upgraded(evaluation: dict) -> dict:
    """An eval.json (or a reference set's block) with its old names mapped to the current ones; a file from before
    ``dataset`` was recorded scored MNIST."""
    renamed = _current_names(evaluation)
    if isinstance(renamed.get(KEY_VERSIONS), dict):
        renamed[KEY_VERSIONS] = _current_names(renamed[KEY_VERSIONS])
    if evaluation:
        renamed.setdefault(KEY_DATASET, "mnist")
    return renamed


def upgraded_curve(curve: list) -> list:
    """curve.json's points with their old names mapped to the current ones."""
    return [_current_names(point) if isinstance(point, dict) else point for point in curve]


def reference_file_name(num_samples: int, reference_count: int) -> str:
    """One file per (scored sample count, test images on the real side): the cache key of the reference rows."""
    return f"references-n{num_samples}-test{reference_count}.json"


def curve_sample_files(run_dir: Path) -> list[Path]:
    """The ``eval_samples/step_*.npz`` sets that a curve scores, in step order: all of them, but a diverged run's
    from its divergence step on (their pixels were not finite; older runs saved them as 0)."""
    result = runs.read_json(run_dir / runs.RESULT, {})
    diverged_at = result.get(runs.KEY_STEP) if result.get(runs.KEY_STATUS) == runs.DIVERGED else None
    paths = sorted((run_dir / EVAL_SAMPLES_DIR).glob("step_*.npz"))
    return [path for path in paths if diverged_at is None or runs.step_of(path.name) < diverged_at]


def scores_current(run_dir: Path) -> bool:
    """``eval.json`` is readable and scored the ``samples.npz`` the folder holds now (a resume that trained on wrote
    new samples; a torn file is no score)."""
    evaluation = runs.read_json(run_dir / EVAL_FILE, None)
    samples = run_dir / SAMPLES_FILE
    return isinstance(evaluation, dict) and samples.is_file() \
        and evaluation.get(KEY_SAMPLES_SHA256) == file_sha256(samples)


def curve_current(run_dir: Path) -> bool:
    """``curve.json`` is readable and has one point for each of the sample sets it should score, as they are now."""
    curve = runs.read_json(run_dir / CURVE_FILE, None)
    if not isinstance(curve, list) or not all(isinstance(entry, dict) for entry in curve):
        return False
    return Counter(entry.get(KEY_SAMPLES_SHA256) for entry in curve) == \
        Counter(file_sha256(path) for path in curve_sample_files(run_dir))
