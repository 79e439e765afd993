"""The dataset registry (core, numpy only): what a data set is, where its files are, and how they are verified.

An entry states the image shape (channels first, as the spec's ``Architecture.image_shape``), the split sizes,
the files each split reads, the archives the mirrors serve them in (name, published size and MD5), the SHA-256
of each file's decompressed contents where it is recorded, and its loader. MNIST is the first entry and the
default; Fashion-MNIST (idx files like MNIST's) and CIFAR-10 (its binary version, never the pickled one) follow.
The training driver refuses a spec whose image shape is not the data set's.

Verification: a file whose SHA-256 is recorded is checked by it, whatever its compression (a .gz's bytes vary,
its contents do not); one whose SHA-256 is not recorded yet (``None``: Fashion-MNIST's and CIFAR-10's, which
could not be computed where this was written) is accepted only inside its archive as published, checked by the
archive's published MD5. ``python -m benchmark.fetch_data NAME`` downloads a data set, verifies it and prints the
SHA-256 lines to record here; once recorded they are checked instead, and decompressed copies are accepted too.

A missing archive is downloaded on first use (``benchmark.downloads``: progress line, ``Range`` resume, atomic).
Loaded images are uint8 ``[N, H, W]`` for one channel (the layout every consumer reads) and ``[N, H, W, C]``
for more, labels uint8 ``[N]``; both arrays are read-only.

A data set may instead be a distribution with a seeded sampler (``sampler``: no file, no split, no download):
``gaussian-1d``, the target of the one-minute toy GAN (``python benchmark/run_all.py --profile toy``).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import tarfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from benchmark import downloads

CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gan-benchmark"
DEFAULT_DATASET = "mnist"


class DataError(RuntimeError):
    """A data problem explained in one line; entry points print it without a traceback."""


Loader = Callable[["Dataset", str, Path, bool], "tuple[np.ndarray, np.ndarray]"]


@dataclass(frozen=True)
class Archive:
    """A file as the mirrors serve it and the data files it holds: a ``.gz`` holds one, a ``.tar.gz`` several."""

    name: str  # "train-images-idx3-ubyte.gz", "cifar-10-binary.tar.gz"
    members: tuple[str, ...]  # the data files in it (a .gz: the one file it decompresses to)
    size: int  # bytes, as published
    md5: str | None = None  # as published; what checks it while its members' SHA-256 are not recorded
    folder: str = ""  # the folder of a .tar.gz that its members sit in

    @property
    def is_tar(self) -> bool:
        return self.name.endswith(".tar.gz")


def gzip_archives(sizes: Mapping[str, int], md5: Mapping[str, str] | None = None) -> tuple[Archive, ...]:
    """One ``NAME.gz`` archive per file ``NAME`` (the idx data sets), with its published size and MD5."""
    return tuple(Archive(f"{name}.gz", (name,), size, (md5 or {}).get(name)) for name, size in sizes.items())


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
    files: Mapping[str, tuple[str, ...]]  # split -> the data files its loader reads (idx: images file, labels file)
    sha256: Mapping[str, str | None]  # file -> SHA-256 of its decompressed contents; None: not recorded yet
    mirrors: tuple[str, ...]  # each serves every archive under its name
    data_dir_env: str  # the environment variable naming its folder
    loader: Loader | None  # (dataset, split, folder, download?) -> (images, labels), verified
    source: str
    archives: tuple[Archive, ...] = ()  # what the mirrors serve: every file above is in one of them
    sampler: Normal | None = None  # a sampled data set: fresh points from (rng, n), no file

    def archive_of(self, file: str) -> Archive:
        return next(archive for archive in self.archives if file in archive.members)

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
    missing = [f for split_files in dataset.files.values() for f in split_files if f not in dataset.sha256]
    if missing:
        raise DataError(f"dataset {dataset.name!r}: no SHA-256 for {', '.join(missing)}")
    files = [f for split_files in dataset.files.values() for f in split_files]
    homeless = [f for f in files if sum(f in archive.members for archive in dataset.archives) != 1]
    if homeless:
        raise DataError(f"dataset {dataset.name!r}: {', '.join(homeless)} not in exactly one archive")
    unverifiable = [f for f in files if dataset.sha256[f] is None and dataset.archive_of(f).md5 is None]
    if unverifiable:
        raise DataError(f"dataset {dataset.name!r}: neither a SHA-256 nor an archive MD5 for {', '.join(unverifiable)}")
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


# ---------------------------------------------------------------------------- files: found, fetched, verified

GZIP_MAGIC = b"\x1f\x8b"
READ_ERRORS = (OSError, EOFError, gzip.BadGzipFile, zlib.error, tarfile.TarError, KeyError)


def _unpack(archive: Archive, path: Path, raw: bytes, members: list[str]) -> dict[str, bytes]:
    """The contents of ``members`` from ``raw``, the bytes of ``path``: the archive or a loose copy of one member
    (decompressed when it is gzip, told by its magic number, not its name)."""
    if archive.is_tar and path.name == archive.name:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            return {member: tar.extractfile(f"{archive.folder}/{member}").read() for member in members}
    (member,) = members
    return {member: gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw}


def _sha256_mismatch(dataset: Dataset, contents: Mapping[str, bytes]) -> str | None:
    for member, content in contents.items():
        digest, expected = hashlib.sha256(content).hexdigest(), dataset.sha256[member]
        if expected is not None and digest != expected:
            return f"SHA-256 mismatch for {member} (got {digest[:12]}…, expected {expected[:12]}…)"
    return None


def _md5_mismatch(archive: Archive, raw: bytes) -> str | None:
    digest = hashlib.md5(raw).hexdigest()
    return None if digest == archive.md5 else f"MD5 mismatch (got {digest[:12]}…, expected {archive.md5[:12]}…)"


def _read_verified(dataset: Dataset, archive: Archive, path: Path, members: list[str]) -> dict[str, bytes]:
    """``members`` read from ``path``, checked by their recorded SHA-256 and, where one is not recorded, by the
    archive's MD5 (so only the archive as published is accepted for them)."""
    unrecorded = [member for member in members if dataset.sha256[member] is None]
    if unrecorded and path.name != archive.name:
        raise DataError(f"{path}: no SHA-256 of {dataset.title}'s {', '.join(unrecorded)} is recorded to check it "
                        f"by; put {archive.name} as published (checked by its MD5) in the {dataset.title} folder")
    try:
        raw = path.read_bytes()
        contents = _unpack(archive, path, raw, members)
    except READ_ERRORS as error:
        raise DataError(f"{path}: truncated or unreadable ({error}); delete it and run again to re-download, "
                        f"or pass --data-dir / set ${dataset.data_dir_env} to a good copy") from None
    mismatch = (_md5_mismatch(archive, raw) if unrecorded else None) or _sha256_mismatch(dataset, contents)
    if mismatch:
        raise DataError(f"{path}: {mismatch}; the file is corrupt: delete it and run again, or pass --data-dir "
                        f"to a good copy")
    return contents


def _download(dataset: Dataset, archive: Archive, directory: Path) -> Path:
    """Fetch ``archive`` from the first mirror that gives it verified (``benchmark.downloads``). A failed download
    leaves no folder behind that it created (a mistyped ``--data-dir`` must not appear as an empty one), unless
    it keeps a partial file there to resume."""
    created = [folder for folder in (directory, *directory.parents) if not folder.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / archive.name

    def check(part: Path) -> None:
        raw = part.read_bytes()
        if archive.md5 is not None:
            mismatch = _md5_mismatch(archive, raw)
        else:
            try:
                mismatch = _sha256_mismatch(dataset, _unpack(archive, target, raw, list(archive.members)))
            except READ_ERRORS as error:
                mismatch = f"unreadable ({error})"
        if mismatch:
            raise downloads.ChecksumMismatch(mismatch)

    try:
        return downloads.download([mirror + archive.name for mirror in dataset.mirrors], target, archive.size, check,
                                  out=sys.stderr)
    except downloads.DownloadError as error:
        for folder in created:  # deepest first; one that something else wrote into stays
            try:
                folder.rmdir()
            except OSError:
                break
        raise DataError(f"{target} is missing and could not be downloaded ({error}); copy the {dataset.title} "
                        f"files there or pass --data-dir / set ${dataset.data_dir_env}") from None


def _locate(dataset: Dataset, archive: Archive, member: str, directory: Path, download: bool) -> Path:
    """The archive if it is there, else a loose copy of ``member``, else the archive downloaded."""
    loose = [directory / archive.folder / member] if archive.folder else []
    candidates = [directory / archive.name, *loose, directory / member]
    path = next((p for p in candidates if p.exists()), None)
    if path is not None:
        return path
    if not download:
        raise DataError(f"{candidates[0]} not found; pass --data-dir or set ${dataset.data_dir_env} to the "
                        f"{dataset.title} folder")
    return _download(dataset, archive, directory)


def read_files(dataset: Dataset, files: tuple[str, ...], directory: Path, download: bool) -> list[bytes]:
    """The verified contents of ``files``, in order; members of one archive are read from it once."""
    paths = {file: _locate(dataset, dataset.archive_of(file), file, directory, download) for file in files}
    contents: dict[str, bytes] = {}
    for path in dict.fromkeys(paths.values()):
        members = [file for file in files if paths[file] == path]
        contents.update(_read_verified(dataset, dataset.archive_of(members[0]), path, members))
    return [contents[file] for file in files]


# ---------------------------------------------------------------------------------------------------- loaders

def _parse_idx(content: bytes) -> np.ndarray:
    ndim = content[3]
    dims = np.frombuffer(content, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_idx(dataset: Dataset, split: str, directory: Path, download: bool) -> tuple[np.ndarray, np.ndarray]:
    """The loader of idx-format data sets (MNIST and its drop-in replacements such as Fashion-MNIST)."""
    images, labels = read_files(dataset, dataset.files[split], directory, download)
    return _parse_idx(images), _parse_idx(labels)


def _parse_cifar(dataset: Dataset, file: str, content: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Records of one label byte and the image's bytes as channel planes (all R, then G, then B), row-major."""
    channels, height, width = dataset.image_shape
    record = 1 + channels * height * width
    if len(content) % record:
        raise DataError(f"{file}: {len(content):,} bytes is not a whole number of {record:,}-byte "
                        f"{dataset.title} records")
    rows = np.frombuffer(content, dtype=np.uint8).reshape(-1, record)
    return rows[:, 1:].reshape(-1, channels, height, width).transpose(0, 2, 3, 1), rows[:, 0]


def load_cifar_binary(dataset: Dataset, split: str, directory: Path,
                      download: bool) -> tuple[np.ndarray, np.ndarray]:
    """The loader of the CIFAR binary version: images uint8 ``[N, H, W, C]``, labels uint8 ``[N]``."""
    files = dataset.files[split]
    parts = [_parse_cifar(dataset, file, content)
             for file, content in zip(files, read_files(dataset, files, directory, download))]
    return np.concatenate([images for images, _ in parts]), np.concatenate([labels for _, labels in parts])


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
    archives=gzip_archives({"train-images-idx3-ubyte": 9_912_422, "train-labels-idx1-ubyte": 28_881,
                            "t10k-images-idx3-ubyte": 1_648_877, "t10k-labels-idx1-ubyte": 4_542}),
    data_dir_env="MNIST_DIR", loader=load_idx,
    source="LeCun et al. 1998; the idx files of yann.lecun.com (60,000 training, 10,000 test images)"))

register_dataset(Dataset(
    name="fashion-mnist", title="Fashion-MNIST", image_shape=(1, 28, 28), classes=10,
    sizes={"train": 60_000, "test": 10_000},
    files={"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
           "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")},
    sha256=dict.fromkeys(("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                          "t10k-labels-idx1-ubyte")),  # not recorded yet: the archives' MD5 check them
    mirrors=("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
             "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
    archives=gzip_archives({"train-images-idx3-ubyte": 26_421_880, "train-labels-idx1-ubyte": 29_515,
                            "t10k-images-idx3-ubyte": 4_422_102, "t10k-labels-idx1-ubyte": 5_148},
                           md5={"train-images-idx3-ubyte": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                "train-labels-idx1-ubyte": "25c81989df183df01b3e8a0aad5dffbe",
                                "t10k-images-idx3-ubyte": "bef4ecab320f06d8554ea6380940ec79",
                                "t10k-labels-idx1-ubyte": "bb300cfdad3c16e7a12a480ee83cd310"}),
    data_dir_env="FASHION_MNIST_DIR", loader=load_idx,
    source="Xiao, Rasul & Vollgraf 2017 (arXiv:1708.07747); the idx files of github.com/zalandoresearch/fashion-mnist "
           "(60,000 training, 10,000 test images of 10 kinds of clothing)"))

CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
register_dataset(Dataset(
    name="cifar10", title="CIFAR-10", image_shape=(3, 32, 32), classes=10, sizes={"train": 50_000, "test": 10_000},
    files={"train": CIFAR10_TRAIN_BATCHES, "test": ("test_batch.bin",)},
    sha256=dict.fromkeys((*CIFAR10_TRAIN_BATCHES, "test_batch.bin")),  # not recorded yet: the archive's MD5 checks them
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    archives=(Archive("cifar-10-binary.tar.gz", (*CIFAR10_TRAIN_BATCHES, "test_batch.bin"), 170_052_171,
                      md5="c32a1d4ab5d03f1284b67883e8d87530", folder="cifar-10-batches-bin"),),
    data_dir_env="CIFAR10_DIR", loader=load_cifar_binary,
    source="Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images; the binary version of "
           "www.cs.toronto.edu/~kriz/cifar.html (50,000 training, 10,000 test 32x32 colour images)"))

register_dataset(Dataset(
    name="gaussian-1d", title="1-D Gaussian N(4, 1.25^2)", image_shape=(1,), classes=0, sizes={}, files={},
    sha256={}, mirrors=(), data_dir_env="", loader=None, sampler=Normal(mean=4.0, std=1.25),
    source="the classic first GAN's target (1-D normal, mean 4, standard deviation 1.25): a seeded sampler, no file"))
