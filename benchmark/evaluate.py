"""Score a run folder's saved samples, the same code for every framework: ``RUN_DIR/eval.json`` and ``curve.json``.

    python -m benchmark.evaluate RUN_DIR [RUN_DIR ...] [--inception-weights PATH] [--no-inception]
                                 [--curve-only] [--num-samples N] [--reference-count N] [--dataset NAME]
                                 [--data-dir DIR]

All metrics come from ``torch_fidelity.calculate_metrics`` (see ``fidelity.py``); the real side is the
first ``--reference-count`` (10,000: all) test images of the run's data set (its ``config.json``; ``--dataset``
must agree), the protocol of Lucic et al. (2018). The in-domain metrics use that data set's classifier
(``benchmark.classifier``); a data set without one is refused with the command that trains it.

``eval.json`` (every key always present; a metric that could not be computed is ``null``, never 0)::

    run:        {framework, model, seed, status}   from config.json / result.json (null when absent)
    dataset:    the data set scored (its classifier, its test images)
    classifier: {fid, is_mean, is_std, kid_mean, kid_std, precision, recall}
                on the data set's project classifier's features (FID/KID/PR: 128-d penultimate layer, IS: logits);
                files written before this name (``mnist``) are read through ``eval_format.upgraded``
    inception:  {available, reason, weights_sha256, official_weights, fid, is_mean, is_std, kid_mean, kid_std}
                inception-v3-compat (pool3 2048-d for FID/KID, logits for IS); when ``available`` is false,
                ``reason`` says why and the metrics are null. ``official_weights`` is false for any weights
                file other than torch-fidelity's release (e.g. a test's random weights): never report those.
    coverage:   {histogram, digits_covered, kl_to_uniform} from the classifier's predicted classes (digits on
                MNIST); a class is covered when it gets at least COVERAGE_MIN_SHARE (1 %) of the samples, a tenth
                of its uniform share; kl_to_uniform = KL(p || uniform) in nats, 0 (uniform) .. ln 10 (one class)
    num_samples, reference ("mnist-test-10000"), seconds (wall time of the scoring), versions (with
                classifier_sha256)
    samples_sha256: the SHA-256 of the samples.npz scored (the suite scores a run again when it no longer matches)
    conditional: null, or for samples saved with the labels requested of a conditional generator:
                {accuracy, per_class_accuracy [10], intra_class_fid, intra_class_fid_per_class [10], worst_class}:
                the classifier's agreement with the requested class, overall and per requested class, and the
                classifier FID of each class's samples against that class's reference images (mean and worst)

``curve.json``: ``[{step, elapsed, classifier_fid, samples_sha256}, ...]`` (``mnist_fid`` before), one entry per
``eval_samples/step_*.npz`` in step order (a diverged run's up to its divergence), classifier FID of those ~2,000
samples against the cached statistics
of the same reference. FID falls with the sample count, so the curve is comparable with itself and across runs, not
with ``eval.json``. The CLI writes it whenever ``eval_samples/`` exists (``--curve-only`` skips ``eval.json``).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch_fidelity

from benchmark import arguments, runs
from benchmark.classifier import NUM_CLASSES, file_sha256, load_classifier, predict, weights_of
from benchmark.data import DataError
from benchmark.datasets import DEFAULT_DATASET, get_dataset, load_dataset
from benchmark.fidelity import (CLASSIFIER_EXTRACTOR, INCEPTION_EXTRACTOR, OFFICIAL_INCEPTION_SHA256,
                                InceptionUnavailable, calculate, reference_images, resolve_inception_weights)
from benchmark.eval_format import (CURVE_FILE, EVAL_FILE, EVAL_SAMPLES_DIR, KEY_AVAILABLE,  # noqa: F401
                                   KEY_CLASSIFIER, KEY_CLASSIFIER_FID, KEY_CLASSIFIER_SHA256, KEY_COVERAGE,
                                   KEY_DATASET, KEY_DIGITS_COVERED, KEY_ELAPSED, KEY_FID, KEY_HISTOGRAM,
                                   KEY_INCEPTION, KEY_IS_MEAN, KEY_IS_STD, KEY_KID_MEAN, KEY_KID_STD,
                                   KEY_KL_TO_UNIFORM, KEY_NUM_SAMPLES,
                                   KEY_OFFICIAL_WEIGHTS, KEY_PRECISION, KEY_REASON, KEY_RECALL, KEY_REFERENCE,
                                   KEY_RUN, KEY_SAMPLES_SHA256, KEY_SECONDS, KEY_STEP, KEY_VERSIONS,
                                   KEY_WEIGHTS_SHA256, SAMPLES_FILE, INCEPTION_KEYS, DEFAULT_REFERENCE_COUNT,
                                   DEFAULT_REFERENCE_SPLIT, KEY_ACCURACY, KEY_CONDITIONAL, KEY_INTRA_FID,
                                   KEY_INTRA_FID_PER_CLASS, KEY_PER_CLASS_ACCURACY, KEY_WORST_CLASS,
                                   curve_sample_files, unevaluated_reason)

COVERAGE_MIN_SHARE = 0.01
MIN_SAMPLES = 4  # on each side: precision/recall's k = 3 nearest neighbours need 4 points
# our key -> torch-fidelity's key
CLASSIFIER_METRICS = {KEY_FID: torch_fidelity.KEY_METRIC_FID, KEY_IS_MEAN: torch_fidelity.KEY_METRIC_ISC_MEAN,
                 KEY_IS_STD: torch_fidelity.KEY_METRIC_ISC_STD, KEY_KID_MEAN: torch_fidelity.KEY_METRIC_KID_MEAN,
                 KEY_KID_STD: torch_fidelity.KEY_METRIC_KID_STD, KEY_PRECISION: torch_fidelity.KEY_METRIC_PRECISION,
                 KEY_RECALL: torch_fidelity.KEY_METRIC_RECALL}
INCEPTION_METRICS = {key: CLASSIFIER_METRICS[key] for key in INCEPTION_KEYS}
NO_INCEPTION_REASON = "skipped on request (--no-inception)"


def coverage(predictions: np.ndarray) -> dict:
    """Mode coverage of predicted classes [N]: histogram, classes with >= 1 % of samples, KL(p || uniform)."""
    histogram = np.bincount(predictions, minlength=NUM_CLASSES)
    share = histogram / histogram.sum()
    present = share > 0
    return {KEY_HISTOGRAM: histogram.tolist(),
            KEY_DIGITS_COVERED: int((share >= COVERAGE_MIN_SHARE).sum()),
            KEY_KL_TO_UNIFORM: float(np.sum(share[present] * np.log(share[present] * NUM_CLASSES)))}


def conditional_accuracy(predictions: np.ndarray, labels: np.ndarray) -> dict:
    """How often the classifier reads the requested class: overall and per requested class (null for a class
    nothing requested)."""
    per_class = [float(np.mean(predictions[labels == c] == c)) if np.any(labels == c) else None
                 for c in range(NUM_CLASSES)]
    return {KEY_ACCURACY: float(np.mean(predictions == labels)), KEY_PER_CLASS_ACCURACY: per_class}


def intra_class_fid(images: np.ndarray, labels: np.ndarray, reference: np.ndarray, reference_labels: np.ndarray,
                    reference_name: str, weights: Path) -> dict:
    """Classifier FID (``weights``) of each class's samples against the reference images of that class: per class
    (null with fewer than ``MIN_SAMPLES`` on a side), their mean and the worst class."""
    per_class = []
    for c in range(NUM_CLASSES):
        mine, theirs = images[labels == c], reference[reference_labels == c]
        if min(len(mine), len(theirs)) < MIN_SAMPLES:
            per_class.append(None)
            continue
        metrics = calculate(mine, CLASSIFIER_EXTRACTOR, weights, theirs, f"{reference_name}-class{c}", ("fid",))
        per_class.append(float(metrics[torch_fidelity.KEY_METRIC_FID]))
    scored = [(fid, c) for c, fid in enumerate(per_class) if fid is not None]
    return {KEY_INTRA_FID: float(np.mean([fid for fid, _ in scored])) if scored else None,
            KEY_INTRA_FID_PER_CLASS: per_class, KEY_WORST_CLASS: max(scored)[1] if scored else None}


def _renamed(metrics: dict, names: dict) -> dict:
    return {ours: float(metrics[theirs]) for ours, theirs in names.items()}


def _inception_block(images: np.ndarray, reference: np.ndarray, reference_name: str, enabled: bool,
                     weights: str | os.PathLike | None) -> dict:
    block = {KEY_AVAILABLE: False, KEY_REASON: NO_INCEPTION_REASON, KEY_WEIGHTS_SHA256: None,
             KEY_OFFICIAL_WEIGHTS: False, **dict.fromkeys(INCEPTION_METRICS)}
    if not enabled:
        return block
    try:
        path = resolve_inception_weights(weights)
    except InceptionUnavailable as error:
        return {**block, KEY_REASON: str(error)}
    sha = file_sha256(path)
    metrics = calculate(images, INCEPTION_EXTRACTOR, path, reference, reference_name, ("isc", "fid", "kid"))
    return {**block, KEY_AVAILABLE: True, KEY_REASON: None, KEY_WEIGHTS_SHA256: sha,
            KEY_OFFICIAL_WEIGHTS: sha == OFFICIAL_INCEPTION_SHA256,
            **_renamed(metrics, INCEPTION_METRICS)}


def evaluate_images(images: np.ndarray, *, dataset: str = DEFAULT_DATASET, inception: bool = True,
                    inception_weights: str | os.PathLike | None = None,
                    reference_split: str = DEFAULT_REFERENCE_SPLIT, reference_count: int = DEFAULT_REFERENCE_COUNT,
                    data_dir: str | os.PathLike | None = None, labels: np.ndarray | None = None) -> dict:
    """Every metric of uint8 samples of ``dataset`` ([N, 28, 28] for MNIST) against its reference split;
    ``eval.json`` without ``run``. ``labels``: the class requested of each sample (a conditional generator's), for
    the conditional block."""
    start = time.perf_counter()
    weights = weights_of(dataset)
    _check_shape(images, dataset, "samples")
    _check_count(images, "samples")
    reference = reference_images(reference_split, reference_count, data_dir, dataset)
    _check_count(reference, f"reference count {reference_count}")
    reference_name = f"{dataset}-{reference_split}-{reference_count}"
    scores = calculate(images, CLASSIFIER_EXTRACTOR, weights, reference, reference_name)
    predictions = predict(load_classifier(weights), images)
    conditional = None
    if labels is not None:
        reference_labels = load_dataset(reference_split, data_dir, dataset=dataset)[1][:reference_count]
        conditional = {**conditional_accuracy(predictions, labels),
                       **intra_class_fid(images, labels, reference, reference_labels, reference_name, weights)}
    result = {
        KEY_DATASET: dataset,
        KEY_CLASSIFIER: _renamed(scores, CLASSIFIER_METRICS),
        KEY_INCEPTION: _inception_block(images, reference, reference_name, inception, inception_weights),
        KEY_COVERAGE: coverage(predictions),
        KEY_CONDITIONAL: conditional,
        KEY_NUM_SAMPLES: len(images),
        KEY_REFERENCE: reference_name,
    }
    result[KEY_SECONDS] = round(time.perf_counter() - start, 2)
    result[KEY_VERSIONS] = {"python": platform.python_version(), "torch": torch.__version__,
                            "torch_fidelity": torch_fidelity.__version__, "numpy": np.__version__,
                            KEY_CLASSIFIER_SHA256: file_sha256(weights)}
    return result


def _check_shape(images: np.ndarray, dataset: str, what: str) -> None:
    entry = get_dataset(dataset)
    if images.dtype != np.uint8 or images.shape[1:] != entry.array_shape or len(images) == 0:
        shape = ", ".join(map(str, entry.array_shape))
        raise DataError(f"{what}: 'images' must be uint8 [N, {shape}] ({entry.title}); got {images.dtype} "
                        f"{list(images.shape)}")


def _check_count(images: np.ndarray, what: str) -> None:
    if len(images) < MIN_SAMPLES:
        raise DataError(f"{what}: {len(images)} image(s); the metrics need at least {MIN_SAMPLES} (precision and "
                        f"recall use each image's 3 nearest neighbours, FID a covariance)")


def _load_images(path: Path, dataset: str) -> np.ndarray:
    return _load_samples(path, dataset)[0]


def _load_samples(path: Path, dataset: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(images, the requested labels or None) of a samples file."""
    if not path.is_file():
        raise DataError(f"{path} not found")
    try:
        with np.load(path) as archive:
            images = archive["images"]
            labels = archive["labels"] if "labels" in archive.files else None
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{path}: unreadable or without an 'images' array ({error})") from None
    _check_shape(images, dataset, str(path))
    if labels is not None and labels.shape != (len(images),):
        raise DataError(f"{path}: 'labels' must hold one label per image; got {list(labels.shape)}")
    return images, labels


def _read_json(path: Path) -> dict:
    """The run folder's JSON file, {} when it is missing; a torn or invalid one is a ``DataError``."""
    try:
        return runs.read_json(path) if path.is_file() else {}
    except ValueError as error:
        raise DataError(f"{path}: invalid JSON ({error})") from None


def _check_run_dir(run_dir: str | os.PathLike) -> Path:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise DataError(f"{run_dir}: not a directory")
    return run_dir


def run_dataset(run_dir: Path, asked: str | None = None) -> str:
    """The data set a run trained on (``config.json``; a run from before ``--dataset`` trained MNIST), checked
    against the one ``asked`` for and for a classifier."""
    dataset = _read_json(run_dir / runs.CONFIG).get("dataset", DEFAULT_DATASET)
    if asked is not None and asked != dataset:
        raise DataError(f"{run_dir}: trained on {dataset}, not --dataset {asked}")
    reason = unevaluated_reason(dataset)
    if reason:
        raise DataError(f"{run_dir}: {reason}")
    return dataset


def evaluate_run(run_dir: str | os.PathLike, *, num_samples: int | None = None, dataset: str | None = None,
                 **options) -> dict:
    """Score ``RUN_DIR/samples.npz`` (its first ``num_samples``; all by default) and write ``RUN_DIR/eval.json``.

    ``dataset``: the one the run must have trained on (default: whichever it did). ``options`` are those of
    ``evaluate_images``.
    """
    run_dir = _check_run_dir(run_dir)
    dataset = run_dataset(run_dir, dataset)
    samples = run_dir / SAMPLES_FILE
    images, labels = _load_samples(samples, dataset)
    if num_samples is not None:
        if not 0 < num_samples <= len(images):
            raise DataError(f"{samples}: asked for {num_samples} samples, it holds {len(images)}")
        images, labels = images[:num_samples], None if labels is None else labels[:num_samples]
    _check_count(images, str(samples))
    config, status = _read_json(run_dir / runs.CONFIG), _read_json(run_dir / runs.RESULT)
    result = {KEY_RUN: {key: config.get(key) for key in ("framework", "model", "seed")} | {
        "status": status.get("status")}, KEY_SAMPLES_SHA256: file_sha256(samples)}
    result |= evaluate_images(images, labels=labels, dataset=dataset, **options)
    runs.write_json(run_dir / EVAL_FILE, result)
    return result


def evaluate_curve(run_dir: str | os.PathLike, *, reference_split: str = DEFAULT_REFERENCE_SPLIT,
                   reference_count: int = DEFAULT_REFERENCE_COUNT, data_dir: str | os.PathLike | None = None,
                   dataset: str | None = None) -> list[dict]:
    """Classifier FID of every ``eval_samples/step_*.npz``; writes and returns ``curve.json``'s list. A diverged
    run's sets from its divergence step on are skipped: their pixels were not finite (older runs saved them as 0).
    ``dataset`` as in ``evaluate_run``."""
    run_dir = _check_run_dir(run_dir)
    dataset = run_dataset(run_dir, dataset)
    weights = weights_of(dataset)
    if not any((run_dir / EVAL_SAMPLES_DIR).glob("step_*.npz")):
        raise DataError(f"{run_dir / EVAL_SAMPLES_DIR}: no step_*.npz files")
    _read_json(run_dir / runs.RESULT)  # a torn result.json is an error, not "not diverged"
    reference = reference_images(reference_split, reference_count, data_dir, dataset)
    reference_name = f"{dataset}-{reference_split}-{reference_count}"
    curve = []
    for path in curve_sample_files(run_dir):
        try:
            with np.load(path) as archive:
                step, elapsed = int(archive["step"]), float(archive["elapsed"])
        except (OSError, ValueError, KeyError) as error:
            raise DataError(f"{path}: unreadable or without 'step' and 'elapsed' ({error})") from None
        images = _load_images(path, dataset)
        _check_count(images, str(path))
        metrics = calculate(images, CLASSIFIER_EXTRACTOR, weights, reference, reference_name, ("fid",))
        curve.append({KEY_STEP: step, KEY_ELAPSED: elapsed,
                      KEY_CLASSIFIER_FID: metrics[torch_fidelity.KEY_METRIC_FID],
                      KEY_SAMPLES_SHA256: file_sha256(path)})
    curve.sort(key=lambda entry: entry[KEY_STEP])
    runs.write_json(run_dir / CURVE_FILE, curve)
    return curve


def _summary(result: dict) -> str:
    scores, inception, cover = result[KEY_CLASSIFIER], result[KEY_INCEPTION], result[KEY_COVERAGE]
    fid_inception = f"{inception[KEY_FID]:.2f}" if inception[KEY_AVAILABLE] else f"unavailable ({inception[KEY_REASON]})"
    conditional = result[KEY_CONDITIONAL]
    asked = f", requested class {conditional[KEY_ACCURACY]:.1%}" if conditional else ""
    return (f"{result[KEY_DATASET]}: classifier FID {scores[KEY_FID]:.3f}, classifier IS {scores[KEY_IS_MEAN]:.2f}, "
            f"classes covered {cover[KEY_DIGITS_COVERED]}/{NUM_CLASSES}{asked}, Inception FID {fid_inception}, "
            f"{result[KEY_SECONDS]:.1f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    parser.add_argument("--inception-weights", help="local inception-v3-compat weights (default: $INCEPTION_WEIGHTS, "
                                                    "torch hub's cache, else a download)")
    parser.add_argument("--no-inception", action="store_true", help="skip the Inception metrics (recorded as such)")
    parser.add_argument("--curve-only", action="store_true", help="write curve.json only")
    parser.add_argument("--num-samples", type=arguments.positive_int, help="score the first N samples (default: all)")
    parser.add_argument("--reference-count", type=arguments.positive_int, default=DEFAULT_REFERENCE_COUNT)
    parser.add_argument("--dataset", type=arguments.image_dataset,
                        help="the data set the runs trained on (default: each run's, from its config.json)")
    parser.add_argument("--data-dir", help="the data set's folder (default: its environment variable, $MNIST_DIR "
                                           "for MNIST, else the user cache)")
    args = parser.parse_args(argv)
    reference = dict(reference_count=args.reference_count, data_dir=args.data_dir, dataset=args.dataset)
    failed = crashed = False
    for run_dir in args.run_dirs:
        try:
            if not args.curve_only:
                result = evaluate_run(run_dir, num_samples=args.num_samples, inception=not args.no_inception,
                                      inception_weights=args.inception_weights, **reference)
                print(f"{run_dir}: {_summary(result)}")
            if args.curve_only or (Path(run_dir) / EVAL_SAMPLES_DIR).is_dir():
                curve = evaluate_curve(run_dir, **reference)
                last = f", last classifier FID {curve[-1][KEY_CLASSIFIER_FID]:.3f}" if curve else ""
                print(f"{run_dir}: curve of {len(curve)} points{last}")
        except DataError as error:
            print(f"error: {error}", file=sys.stderr)
            failed = True
        except Exception as error:  # one bad run folder must not cost the others their scores
            print(f"error: {run_dir}: evaluation failed ({type(error).__name__}: {error})", file=sys.stderr)
            crashed = True
    return runs.EXIT_FAILED if crashed else runs.EXIT_USAGE if failed else runs.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
