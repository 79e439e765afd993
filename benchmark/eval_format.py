"""The evaluation's file names and JSON keys, without importing torch: shared by ``benchmark.evaluate`` (which
writes them), ``benchmark.references`` and the report (which only reads them).

``eval.json``, ``curve.json`` and a reference file are described in ``benchmark.evaluate``'s docstring and in
``benchmark.references``'s.
"""
from __future__ import annotations

DEFAULT_REFERENCE_SPLIT, DEFAULT_REFERENCE_COUNT = "test", 10_000  # the real side of every comparison
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
# curve.json entries
KEY_STEP, KEY_ELAPSED, KEY_MNIST_FID = "step", "elapsed", "mnist_fid"

# Reference rows (benchmark.references): OUT/references/<reference_file_name(...)>, one eval.json-like block per
# reference set, under these keys.
REFERENCES_DIR = "references"
REFERENCE_REAL, REFERENCE_NOISE = "real_train", "uniform_noise"
REFERENCE_SETS = (REFERENCE_REAL, REFERENCE_NOISE)
KEY_SETS, KEY_SAMPLE_SEED = "sets", "sample_seed"


def reference_file_name(num_samples: int, reference_count: int) -> str:
    """One file per (scored sample count, test images on the real side): the cache key of the reference rows."""
    return f"references-n{num_samples}-test{reference_count}.json"
