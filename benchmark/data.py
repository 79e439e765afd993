"""The one MNIST pipeline both frameworks consume (numpy only).

Everything random that a training run needs besides weight initialisation — the batch order, the noise
fed to the generator and the gradient-penalty interpolation weights — is a pure function of
``(seed, step)``. A PyTorch run and a Keras run with the same seed therefore see identical inputs, and a
resumed run needs nothing but the step counter to continue exactly where it stopped.
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

import numpy as np

DATA_DIR_ENV = "MNIST_DIR"
DEFAULT_CACHE_DIR = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gan-benchmark" / "mnist"
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# SHA-256 of the decompressed idx files (a .gz file's bytes depend on the compressor, its contents do not).
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
SPLITS = {"train": "train", "test": "t10k"}
# Fixed seed of the evaluation noise: the same for every run, seed and framework, so samples compare.
EVAL_NOISE_SEED = 20_181_105
_STREAM_NOISE, _STREAM_GP, _STREAM_EVAL = 1, 2, 3


class DataError(RuntimeError):
    """A data problem explained in one line; entry points print it without a traceback."""


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """``--data-dir`` if given, else ``$MNIST_DIR``, else the user cache directory."""
    chosen = data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_CACHE_DIR
    return Path(chosen).expanduser()


def _content(path: Path) -> bytes:
    """The file's idx bytes, decompressed when it is gzip (told by its magic number, not its name)."""
    raw = path.read_bytes()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def _verified_bytes(path: Path, name: str) -> bytes:
    try:
        content = _content(path)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: truncated or unreadable ({error}); delete it and run again to re-download, "
                        f"or pass --data-dir / set ${DATA_DIR_ENV} to a good copy") from None
    digest = hashlib.sha256(content).hexdigest()
    if digest != SHA256[name]:
        raise DataError(f"{path}: SHA-256 mismatch (got {digest[:12]}…, expected {SHA256[name][:12]}…); "
                        f"the file is corrupt: delete it and run again, or pass --data-dir to a good copy")
    return content


def _download(name: str, directory: Path) -> Path:
    """Fetch ``name.gz`` from the first mirror that answers; verify before it gets its final name."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}.gz"
    failures = []
    for mirror in MIRRORS:
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".part")
        os.close(handle)
        temporary = Path(temporary)
        try:
            urllib.request.urlretrieve(mirror + target.name, temporary)
            if hashlib.sha256(_content(temporary)).hexdigest() == SHA256[name]:
                temporary.replace(target)
                return target
            failures.append(f"{mirror}: checksum mismatch")
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            failures.append(f"{mirror}: {error}")
        finally:
            temporary.unlink(missing_ok=True)
    raise DataError(f"{target} is missing and could not be downloaded ({'; '.join(failures)}); "
                    f"copy the four MNIST idx files there or pass --data-dir / set ${DATA_DIR_ENV}")


def _read_idx(name: str, directory: Path, download: bool) -> np.ndarray:
    candidates = [directory / f"{name}.gz", directory / name]
    path = next((p for p in candidates if p.exists()), None)
    if path is None:
        if not download:
            raise DataError(f"{candidates[0]} not found; pass --data-dir or set ${DATA_DIR_ENV} to the MNIST folder")
        path = _download(name, directory)
    content = _verified_bytes(path, name)
    ndim = content[3]
    dims = np.frombuffer(content, dtype=">u4", count=ndim, offset=4)
    return np.frombuffer(content, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@lru_cache(maxsize=4)
def _load_cached(split: str, directory: Path, download: bool) -> tuple[np.ndarray, np.ndarray]:
    prefix = SPLITS[split]
    images = _read_idx(f"{prefix}-images-idx3-ubyte", directory, download)
    labels = _read_idx(f"{prefix}-labels-idx1-ubyte", directory, download)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None,
               download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Verified MNIST ``(images uint8 [N, 28, 28], labels uint8 [N])``, read-only arrays."""
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid: {', '.join(SPLITS)}")
    directory = resolve_data_dir(data_dir).resolve()
    try:
        return _load_cached(split, directory, download)
    except OSError as error:  # e.g. a folder without read permission
        raise DataError(f"MNIST folder {directory}: {error.strerror or error} ({error.filename}); pass --data-dir "
                        f"or set ${DATA_DIR_ENV} to a readable copy") from None


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], the range of the generators' tanh output."""
    return images.astype(np.float32) / 127.5 - 1.0


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], clipped and rounded (what is saved and evaluated)."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class StepInputs:
    """Everything one training iteration consumes: ``n_critic`` discriminator batches and one generator batch."""

    real: np.ndarray  # float32 [n_critic, B, 28, 28] in [-1, 1]
    d_noise: np.ndarray  # float32 [n_critic, B, noise_dim]
    g_noise: np.ndarray  # float32 [B, noise_dim]
    gp_weight: np.ndarray  # float32 [n_critic, B], U(0, 1): the gradient-penalty interpolation weight per sample


class TrainingStream:
    """Seeded, indexable training inputs: ``stream.step(i)`` is the same for every framework and every call.

    Epoch ``e`` visits the training set in the order ``permutation(seed, e)`` and drops the last incomplete
    batch; iteration ``i`` uses global batches ``i * n_critic ... i * n_critic + n_critic - 1``.
    """

    def __init__(self, images: np.ndarray, batch_size: int, noise_dim: int, seed: int, n_critic: int = 1,
                 noise: str = "normal"):
        if batch_size > len(images):
            raise DataError(f"batch size {batch_size} exceeds the {len(images)} training images")
        self.images = images
        self.batch_size, self.noise_dim, self.seed, self.n_critic = batch_size, noise_dim, seed, n_critic
        self.noise = noise
        self.batches_per_epoch = len(images) // batch_size
        self.steps_per_epoch = self.batches_per_epoch // n_critic

    @lru_cache(maxsize=2)
    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.images))

    def batch(self, index: int) -> np.ndarray:
        """Global batch ``index`` as float32 [B, 28, 28] in [-1, 1]."""
        epoch, position = divmod(index, self.batches_per_epoch)
        rows = self._order(epoch)[position * self.batch_size:(position + 1) * self.batch_size]
        return to_unit_range(self.images[rows])

    def epoch_of(self, step: int) -> int:
        return (step * self.n_critic) // self.batches_per_epoch

    def step(self, step: int) -> StepInputs:
        k, b, z = self.n_critic, self.batch_size, self.noise_dim
        real = np.stack([self.batch(step * k + j) for j in range(k)])
        noise = sample_noise(np.random.default_rng([self.seed, _STREAM_NOISE, step]), (k + 1) * b, z, self.noise)
        gp_rng = np.random.default_rng([self.seed, _STREAM_GP, step])
        gp_weight = gp_rng.uniform(0.0, 1.0, size=(k, b)).astype(np.float32)
        return StepInputs(real, noise[: k * b].reshape(k, b, z), noise[k * b:], gp_weight)


def sample_noise(rng: np.random.Generator, n: int, noise_dim: int, distribution: str = "normal") -> np.ndarray:
    """``n`` latent vectors, float32 [n, noise_dim], from the spec's distribution."""
    if distribution == "normal":
        return rng.standard_normal((n, noise_dim), dtype=np.float32)
    if distribution == "uniform":
        return rng.uniform(-1.0, 1.0, size=(n, noise_dim)).astype(np.float32)
    raise DataError(f"unknown noise distribution {distribution!r}; valid: normal, uniform")


def evaluation_noise(n: int, noise_dim: int, distribution: str = "normal") -> np.ndarray:
    """The fixed evaluation noise shared by every run; its first rows drive the progress grids."""
    return sample_noise(np.random.default_rng([EVAL_NOISE_SEED, _STREAM_EVAL]), n, noise_dim, distribution)
