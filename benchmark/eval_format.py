"""The evaluation's file names and JSON keys, without importing torch: shared by ``benchmark.evaluate`` (which
writes them), ``benchmark.references`` and the report (which only reads them); and whether a run folder's scores
are those of its current samples (``scores_current``, ``curve_current``), which the suite asks before it skips an
evaluation.

``eval.json``, ``curve.json`` and a reference file are described in ``benchmark.evaluate``'s docstring and in
``benchmark.references``'s.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from benchmark import runs
from benchmark.checkpoints import file_sha256

DEFAULT_REFERENCE_SPLIT, DEFAULT_REFERENCE_COUNT = "test", 10_000  # the real side of every comparison
# The data sets whose samples the evaluation scores: its in-domain classifier (benchmark/assets) is MNIST's. Another
# data set needs its own classifier first (``python -m benchmark.classifier train --dataset NAME``, not built yet).
EVALUATED_DATASETS = ("mnist",)


def unevaluated_reason(dataset: str) -> str | None:
    """Why samples of ``dataset`` cannot be scored here (one line), or None when they can."""
    if dataset in EVALUATED_DATASETS:
        return None
    return (f"the evaluation has a classifier for {', '.join(EVALUATED_DATASETS)} only, not {dataset}; train "
            f"single runs on it with python -m pytorch_impl.train / tensorflow_impl.train --dataset {dataset}")
EVAL_FILE, CURVE_FILE, SAMPLES_FILE, EVAL_SAMPLES_DIR = "eval.json", "curve.json", "samples.npz", "eval_samples"
# eval.json, top level
KEY_RUN, KEY_MNIST, KEY_INCEPTION, KEY_COVERAGE = "run", "mnist", "inception", "coverage"
KEY_NUM_SAMPLES, KEY_REFERENCE, KEY_SECONDS, KEY_VERSIONS = "num_samples", "reference", "seconds", "versions"
# metric blocks
KEY_FID, KEY_IS_MEAN, KEY_IS_STD = "fid", "is_mean", "is_std"
KEY_KID_MEAN, KEY_KID_STD, KEY_PRECISION, KEY_RECALL = "kid_mean", "kid_std", "precision", "recall"
KEY_AVAILABLE, KEY_REASON, KEY_WEIGHTS_SHA256, KEY_OFFICIAL_WEIGHTS = (
    "available", "reason", "weights_sha256", "official_weights")
MNIST_KEYS = (KEY_FID, KEY_IS_MEAN, KEY_IS_STD, KEY_KID_MEAN, KEY_KID_STD, KEY_PRECISION, KEY_RECALL)
INCEPTION_KEYS = (KEY_FID, KEY_IS_MEAN, KEY_IS_STD, KEY_KID_MEAN, KEY_KID_STD)
# coverage block
KEY_HISTOGRAM, KEY_DIGITS_COVERED, KEY_KL_TO_UNIFORM = "histogram", "digits_covered", "kl_to_uniform"
# conditional block (null for samples without requested labels): how often the requested digit comes out, and
# FID per class against that class's real test digits
KEY_CONDITIONAL, KEY_ACCURACY, KEY_PER_CLASS_ACCURACY = "conditional", "accuracy", "per_class_accuracy"
KEY_INTRA_FID, KEY_INTRA_FID_PER_CLASS, KEY_WORST_CLASS = "intra_class_fid", "intra_class_fid_per_class", "worst_class"
# curve.json entries
KEY_STEP, KEY_ELAPSED, KEY_MNIST_FID = "step", "elapsed", "mnist_fid"
# eval.json and every curve.json entry: the SHA-256 of the samples file scored
KEY_SAMPLES_SHA256 = "samples_sha256"

# Reference rows (benchmark.references): OUT/references/<reference_file_name(...)>, one eval.json-like block per
# reference set, under these keys.
REFERENCES_DIR = "references"
REFERENCE_REAL, REFERENCE_NOISE = "real_train", "uniform_noise"
REFERENCE_SETS = (REFERENCE_REAL, REFERENCE_NOISE)
KEY_SETS, KEY_SAMPLE_SEED = "sets", "sample_seed"


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
