"""Reference rows: what the metrics give for real images (the floor) and for uniform noise (the ceiling) at the
runs' sample count, with the same extractor and the same test reference as the runs.

    python -m benchmark.references OUT/references --num-samples N [--reference-count M] [--no-inception]
                                   [--dataset NAME] [--data-dir DIR]

FID, KID and precision/recall depend on the sample count (PARITY-NOTES §8: real training digits vs the test
set give FID ≈ 3 at 10k but ≈ 32 at 500), so a run's number means something only next to these two rows:

* ``real_train``: a seeded sample (``SAMPLE_SEED``) of N *training* images of the data set (MNIST by default),
  scored against the test reference like a run's samples: the best a generator can do at this N;
* ``uniform_noise``: N images of independent uniform pixels in [0, 255] (same seed): what a generator that learnt
  nothing scores.

Both sets are scored as a conditional generator's samples too (``eval.json``'s ``conditional`` block): the real
digits with their true labels (the classifier's accuracy on them, near 99 %, and the intra-class FID floor), the
noise with the evaluation labels a conditional run requests (``data.evaluation_labels``: about 10 %, one class in
ten by chance). Training digits rather than test digits: the test digits are the reference side, against which
they would score an FID of 0.

One file per (N, reference count), ``eval_format.reference_file_name``; an existing file scored with the same
classifier (hence the same data set) is reused (the suite calls this once per suite). The file holds
``{num_samples, reference, sample_seed, dataset, sets: {real_train: <eval.json without run>, uniform_noise: ...}}``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from benchmark import arguments
from benchmark.classifier import file_sha256, weights_of
from benchmark.data import DataError, evaluation_labels
from benchmark.datasets import DEFAULT_DATASET, load_dataset
from benchmark.eval_format import (DEFAULT_REFERENCE_COUNT, DEFAULT_REFERENCE_SPLIT, KEY_CLASSIFIER,
                                   KEY_CLASSIFIER_SHA256, KEY_CONDITIONAL, KEY_DATASET, KEY_FID, KEY_NUM_SAMPLES,
                                   KEY_REFERENCE, KEY_SAMPLE_SEED, KEY_SETS, KEY_VERSIONS, REFERENCE_NOISE,
                                   REFERENCE_REAL, reference_file_name, upgraded)
from benchmark.evaluate import evaluate_images

SAMPLE_SEED = 20_260_113


def reference_sets(num_samples: int, data_dir: str | os.PathLike | None = None,
                   seed: int = SAMPLE_SEED, dataset: str = DEFAULT_DATASET) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Both reference sets as (uint8 images in the data set's sample shape (MNIST [N, 28, 28]), int64 labels [N]):
    seeded training images with their true labels, and uniform noise with the evaluation labels (0, 1, ..., 9, 0,
    ...)."""
    train, train_labels = load_dataset("train", data_dir, dataset=dataset)
    if not 0 < num_samples <= len(train):
        raise DataError(f"--num-samples {num_samples} is outside 1..{len(train)}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(train), num_samples, replace=False))
    noise = rng.integers(0, 256, size=(num_samples, *train.shape[1:]), dtype=np.uint8)
    classes = int(train_labels.max()) + 1
    return {REFERENCE_REAL: (train[rows], train_labels[rows].astype(np.int64)),
            REFERENCE_NOISE: (noise, evaluation_labels(num_samples, classes))}


def _cached(path: Path, classifier_sha: str) -> dict | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    sets = {name: upgraded(value.get(KEY_SETS, {}).get(name) or {}) for name in (REFERENCE_REAL, REFERENCE_NOISE)}
    if all(block.get(KEY_VERSIONS, {}).get(KEY_CLASSIFIER_SHA256) == classifier_sha and block.get(KEY_CONDITIONAL)
           and block.get(KEY_CLASSIFIER) for block in sets.values()):
        return {**value, KEY_SETS: sets}
    return None


def compute_references(out_dir: str | os.PathLike, num_samples: int, *,
                       reference_count: int = DEFAULT_REFERENCE_COUNT, inception: bool = False,
                       data_dir: str | os.PathLike | None = None, force: bool = False,
                       dataset: str = DEFAULT_DATASET) -> tuple[Path, dict]:
    """Score both reference sets of ``dataset`` (or reuse the file already there); returns the file and its
    contents."""
    path = Path(out_dir) / reference_file_name(num_samples, reference_count)
    if not force and (cached := _cached(path, file_sha256(weights_of(dataset)))) is not None:
        return path, cached
    sets = {name: evaluate_images(images, dataset=dataset, inception=inception, reference_split=DEFAULT_REFERENCE_SPLIT,
                                  reference_count=reference_count, data_dir=data_dir, labels=labels)
            for name, (images, labels) in reference_sets(num_samples, data_dir, dataset=dataset).items()}
    value = {KEY_NUM_SAMPLES: num_samples, KEY_REFERENCE: sets[REFERENCE_REAL][KEY_REFERENCE],
             KEY_SAMPLE_SEED: SAMPLE_SEED, KEY_DATASET: dataset, KEY_SETS: sets}
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, indent=2) + "\n")
    temporary.replace(path)
    return path, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.references", description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", help="folder of the reference files (a suite uses OUT/references)")
    parser.add_argument("--num-samples", type=int, required=True, help="images per reference set: the runs' count")
    parser.add_argument("--reference-count", type=int, default=DEFAULT_REFERENCE_COUNT)
    parser.add_argument("--no-inception", action="store_true", help="skip the Inception metrics")
    arguments.add_dataset_arguments(parser)
    parser.add_argument("--force", action="store_true", help="score again even when the file exists")
    args = parser.parse_args(argv)
    try:
        path, value = compute_references(args.out_dir, args.num_samples, reference_count=args.reference_count,
                                         inception=not args.no_inception, data_dir=args.data_dir, force=args.force,
                                         dataset=args.dataset)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    fids = {name: block[KEY_CLASSIFIER][KEY_FID] for name, block in value[KEY_SETS].items()}
    accuracies = {name: block[KEY_CONDITIONAL]["accuracy"] for name, block in value[KEY_SETS].items()}
    print(f"{path}: {args.dataset} classifier FID real training images {fids[REFERENCE_REAL]:.2f}, uniform noise "
          f"{fids[REFERENCE_NOISE]:.1f}; accuracy on the requested label {accuracies[REFERENCE_REAL]:.1%} and "
          f"{accuracies[REFERENCE_NOISE]:.1%} ({args.num_samples} samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
