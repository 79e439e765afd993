"""The dataset registry (core, numpy only): what a data set is, where its files are, and how they are verified.

An entry states the image shape (channels first, as the spec's ``Architecture.image_shape``), the split sizes,
the file of each split and the SHA-256 of its decompressed contents, the download mirrors, and its loader.
MNIST is the first entry and the default. Adding a data set (Fashion-MNIST, CIFAR-10) is a ``register_dataset``
here, a new ``DEFAULT_DATASET`` (or a choice of it), and the spec's ``image_shape``; the training driver refuses
a spec whose image shape is not the data set's.

Loaded images are uint8 ``[N, H, W]`` for one channel (the layout every consumer reads), labels uint8 ``[N]``;
both arrays are read-only.

A data set may instead be a distribution with a seeded sampler (``sampler``: no file, no split, no download):
``gaussian-1d``, the target of the one-minute toy GAN (``python benchmark/run_all.py --profile toy``).
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gan-benchmark"
DEFAULT_DATASET = "mnist"


class DataError(RuntimeError):
    """A data problem explained in one line; entry points print it without a traceback."""


Loader = Callable[["Dataset", str, Path, bool], "tuple[np.ndarray, np.ndarray]"]


@dataclass(frozen=True)
class Normal:
    """A normal distribution of vectors: every coordinate N(mean, std**2), independent; samples are float64
    ``[n, dim]`` (the toy's data points, one row each)."""

    mean: float
    std: float
    dim: int = 1

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.normal(self.mean, self.std, size=(n, self.dim))

    def density(self, x: np.ndarray) -> np.ndarray:
        """The probability density of one coordinate at ``x``."""
        z = (np.asarray(x, np.float64) - self.mean) / self.std
        return np.exp(-0.5 * z * z) / (self.std * np.sqrt(2.0 * np.pi))


@dataclass(frozen=True)
class Dataset:
    name: str
    title: str  # for messages: "MNIST"
    image_shape: tuple[int, ...]  # (C, H, W); (dim,) for a sampled data set of vectors
    classes: int
    sizes: Mapping[str, int]  # split -> number of images
    files: Mapping[str, tuple[str, str]]  # split -> (images file, labels file), names without ``.gz``
    sha256: Mapping[str, str]  # file -> SHA-256 of its decompressed contents (a .gz's bytes vary, they do not)
    mirrors: tuple[str, ...]  # each serves ``<file>.gz``
    data_dir_env: str  # the environment variable naming its folder
    loader: Loader | None  # (dataset, split, folder, download?) -> (images, labels), verified
    source: str
    sampler: Normal | None = None  # a sampled data set: fresh points from (rng, n), no file

    @property
    def channels(self) -> int:
        return self.image_shape[0]

    @property
    def train_size(self) -> int:
        return self.sizes["train"]

    @property
    def test_size(self) -> int:
        return self.sizes["test"]

    @property
    def array_shape(self) -> tuple[int, ...]:
        """One loaded image's shape: ``(H, W)`` for one channel."""
        channels, height, width = self.image_shape
        return (height, width) if channels == 1 else (height, width, channels)

    @property
    def default_dir(self) -> Path:
        return CACHE_ROOT / self.name


DATASETS: dict[str, Dataset] = {}


def register_dataset(dataset: Dataset) -> Dataset:
    if dataset.name in DATASETS:
        raise DataError(f"dataset {dataset.name!r} is registered twice")
    if dataset.sampler is not None:
        if dataset.files or dataset.loader is not None:
            raise DataError(f"dataset {dataset.name!r}: a sampled data set has no files or loader")
        DATASETS[dataset.name] = dataset
        return dataset
    if set(dataset.sizes) != set(dataset.files) or not {"train", "test"} <= set(dataset.files):
        raise DataError(f"dataset {dataset.name!r}: every split (train and test at least) needs a size and files")
    missing = [f for pair in dataset.files.values() for f in pair if f not in dataset.sha256]
    if missing:
        raise DataError(f"dataset {dataset.name!r}: no SHA-256 for {', '.join(missing)}")
    DATASETS[dataset.name] = dataset
    return dataset


def get_dataset(name: str = DEFAULT_DATASET) -> Dataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise DataError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}") from None


def resolve_data_dir(data_dir: str | os.PathLike | None = None, dataset: str = DEFAULT_DATASET) -> Path:
    """``--data-dir`` if given, else the data set's environment variable (``$MNIST_DIR``), else the user cache."""
    entry = get_dataset(dataset)
    chosen = data_dir or os.environ.get(entry.data_dir_env) or entry.default_dir
    return Path(chosen).expanduser()


def load_dataset(split: str = "train", data_dir: str | os.PathLike | None = None, download: bool = True,
                 dataset: str = DEFAULT_DATASET) -> tuple[np.ndarray, np.ndarray]:
    """Verified ``(images uint8 [N, *array_shape], labels uint8 [N])`` of ``split``, read-only, cached."""
    entry = get_dataset(dataset)
    if entry.sampler is not None:
        raise DataError(f"{entry.title} is sampled, not loaded: draw from get_dataset({entry.name!r}).sampler")
    if split not in entry.files:
        raise DataError(f"unknown split {split!r}; valid: {', '.join(entry.files)}")
    directory = resolve_data_dir(data_dir, dataset).resolve()
    try:
        return _load_cached(entry.name, split, directory, download)
    except OSError as error:  # e.g. a folder without read permission
        raise DataError(f"{entry.title} folder {directory}: {error.strerror or error} ({error.filename}); pass "
                        f"--data-dir or set ${entry.data_dir_env} to a readable copy") from None


@lru_cache(maxsize=4)
def _load_cached(name: str, split: str, directory: Path, download: bool) -> tuple[np.ndarray, np.ndarray]:
    entry = DATASETS[name]
    images, labels = entry.loader(entry, split, directory, download)
    if images.shape != (entry.sizes[split], *entry.array_shape) or labels.shape != (entry.sizes[split],):
        raise DataError(f"{directory}: {entry.title} {split} has images {list(images.shape)} and labels "
                        f"{list(labels.shape)}; expected {[entry.sizes[split], *entry.array_shape]}")
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


# ------------------------------------------------------------------------------------ idx files (MNIST)

def _content(path: Path) -> bytes:
    """The file's bytes, decompressed when it is gzip (told by its magic number, not its name)."""
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _verified_bytes(dataset: Dataset, path: Path, name: str) -> bytes:
    try:
        content = _content(path)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: truncated or unreadable ({error}); delete it and run again to re-download, "
                        f"or pass --data-dir / set ${dataset.data_dir_env} to a good copy") from None
    digest, expected = hashlib.sha256(content).hexdigest(), dataset.sha256[name]
    if digest != expected:
        raise DataError(f"{path}: SHA-256 mismatch (got {digest[:12]}…, expected {expected[:12]}…); "
                        f"the file is corrupt: delete it and run again, or pass --data-dir to a good copy")
    return content


def _download(dataset: Dataset, name: str, directory: Path) -> Path:
    """Fetch ``name.gz`` from the first mirror that answers; verify before it gets its final name. A failed
    download leaves no folder behind that it created (a mistyped ``--data-dir`` must not appear as an empty one)."""
    created = [folder for folder in (directory, *directory.parents) if not folder.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.gz"
    failures = []
    for mirror in dataset.mirrors:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
        os.close(handle)
        temporary = Path(temporary)
        try:
            urllib.request.urlretrieve(mirror + target.name, temporary)
            if hashlib.sha256(_content(temporary)).hexdigest() == dataset.sha256[name]:
                temporary.replace(target)
                return target
            failures.append(f"{mirror}: checksum mismatch")
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            failures.append(f"{mirror}: {error}")
        finally:
            temporary.unlink(missing_ok=True)
    for folder in created:  # deepest first; one that something else wrote into stays
        try:
            folder.rmdir()
        except OSError:
            break
    raise DataError(f"{target} is missing and could not be downloaded ({'; '.join(failures)}); copy the "
                    f"{dataset.title} files there or pass --data-dir / set ${dataset.data_dir_env}")


def _read_idx(dataset: Dataset, name: str, directory: Path, download: bool) -> np.ndarray:
    candidates = [directory / f"{name}.gz", directory / name]
    path = next((p for p in candidates if p.exists()), None)
    if path is None:
        if not download:
            raise DataError(f"{candidates[0]} not found; pass --data-dir or set ${dataset.data_dir_env} to the "
                            f"{dataset.title} folder")
        path = _download(dataset, name, directory)
    content = _verified_bytes(dataset, path, name)
    ndim = content[3]
    dims = np.frombuffer(content, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_idx(dataset: Dataset, split: str, directory: Path, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """The loader of idx-format data sets (MNIST and its drop-in replacements)."""
    images_file, labels_file = dataset.files[split]
    return _read_idx(dataset, images_file, directory, download), _read_idx(dataset, labels_file, directory, download)


register_dataset(Dataset(
    name="mnist", title="MNIST", image_shape=(1, 28, 28), classes=10, sizes={"train": 60_000, "test": 10_000},
    files={"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
           "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")},
    sha256={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/",
             "http://yann.lecun.com/exdb/mnist/"),
    data_dir_env="MNIST_DIR", loader=load_idx,
    source="LeCun et al. 1998; the idx files of yann.lecun.com (60,000 training, 10,000 test images)"))

register_dataset(Dataset(
    name="gaussian-1d", title="1-D Gaussian N(4, 1.25^2)", image_shape=(1,), classes=0, sizes={}, files={},
    sha256={}, mirrors=(), data_dir_env="", loader=None, sampler=Normal(mean=4.0, std=1.25),
    source="the classic first GAN's target (1-D normal, mean 4, standard deviation 1.25): a seeded sampler, no file"))
