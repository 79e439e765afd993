"""argparse ``type=`` functions: a bad length, count or seed fails in the parser (exit 2, one error line),
not after an hour of training or with a traceback."""
from __future__ import annotations

import argparse

from benchmark import datasets

MAX_SEED = 2**32 - 1  # numpy's legacy seeding (``np.random.seed``) accepts 0 .. 2**32 - 1


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def seed(text: str) -> int:
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be in 0..{MAX_SEED}, got {value}")
    return value


def image_dataset(text: str) -> str:
    """The name of a registered data set of images (``benchmark.datasets``; a sampled one has its own toy CLI)."""
    names = [name for name, entry in datasets.DATASETS.items() if entry.sampler is None]
    if text not in names:
        raise argparse.ArgumentTypeError(f"unknown dataset {text!r}; valid: {', '.join(names)}")
    return text


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset NAME`` (default MNIST) and ``--data-dir``, its folder."""
    names = ", ".join(name for name, entry in datasets.DATASETS.items() if entry.sampler is None)
    parser.add_argument("--dataset", type=image_dataset, default=datasets.DEFAULT_DATASET,
                        help=f"data set of images ({names}; default: %(default)s); see python -m benchmark.fetch_data")
    parser.add_argument("--data-dir", help="the data set's folder (default: its environment variable, $MNIST_DIR for "
                                           "MNIST, else the user cache, where a missing file is downloaded)")
