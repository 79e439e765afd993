"""The one training-input pipeline both frameworks consume (numpy only); the files come from ``benchmark.datasets``.

Everything random that a training run needs besides weight initialisation — the batch order, the noise
fed to the generator, the gradient-penalty interpolation weights and, for a conditional model, the labels
requested of the generator — is a pure function of ``(seed, step)``; each has its own random stream, so an
unconditional run draws exactly what it drew before labels existed. A PyTorch run and a Keras run with the
same seed therefore see identical inputs, and a resumed run needs nothing but the step counter to continue
exactly where it stopped.
"""
from __future__ import annotations

import dataclasses
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from benchmark import datasets
from benchmark.datasets import DataError

DATA_DIR_ENV = datasets.get_dataset("mnist").data_dir_env
DEFAULT_CACHE_DIR = datasets.get_dataset("mnist").default_dir
# Fixed seed of the evaluation noise: the same for every run, seed and framework, so samples compare.
EVAL_NOISE_SEED = 20_181_105
_STREAM_NOISE, _STREAM_GP, _STREAM_EVAL, _STREAM_LABELS = 1, 2, 3, 4


def load_mnist(split: str = "train", data_dir: str | os.PathLike | None = None,
               download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Verified MNIST ``(images uint8 [N, 28, 28], labels uint8 [N])``, read-only arrays (``benchmark.datasets``)."""
    return datasets.load_dataset(split, data_dir, download, dataset="mnist")


def scale_to_unit_range(images: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1], the range of the generators' tanh output, computed pixel by pixel."""
    return images.astype(np.float32) / 127.5 - 1.0


UNIT_RANGE = scale_to_unit_range(np.arange(256, dtype=np.uint8))  # every uint8 value, scaled


def to_unit_range(images: np.ndarray) -> np.ndarray:
    """``scale_to_unit_range`` for uint8 images by looking the 256 values up (bitwise the same, a few times faster:
    a training process scales the whole training set once); other dtypes are computed."""
    return UNIT_RANGE[images] if images.dtype == np.uint8 else scale_to_unit_range(images)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], clipped and rounded (what is saved and evaluated)."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class StepInputs:
    """Everything one training iteration consumes: ``n_critic`` discriminator batches and one generator batch."""

    real: np.ndarray  # float32 [n_critic, B, H, W] in [-1, 1]
    d_noise: np.ndarray  # float32 [n_critic, B, noise_dim]
    g_noise: np.ndarray  # float32 [B, noise_dim]
    gp_weight: np.ndarray  # float32 [n_critic, B], U(0, 1): the gradient-penalty interpolation weight per sample
    # Conditional models only (None otherwise), int64: the real batches' labels [n_critic, B], the labels requested
    # of the generator for the critic's fake batches [n_critic, B] and for the generator batch [B].
    real_labels: np.ndarray | None = None
    d_labels: np.ndarray | None = None
    g_labels: np.ndarray | None = None


class TrainingStream:
    """Seeded, indexable training inputs: ``stream.step(i)`` is the same for every framework and every call.

    Epoch ``e`` visits the training set in the order ``permutation(seed, e)`` and drops the last incomplete
    batch; iteration ``i`` uses global batches ``i * n_critic ... i * n_critic + n_critic - 1``.
    With ``labels`` and ``num_classes`` (a conditional model) each real batch comes with its rows' labels and the
    generator's labels are drawn uniformly over the classes; without them the inputs carry no label.
    """

    def __init__(self, images: np.ndarray, batch_size: int, noise_dim: int, seed: int, n_critic: int = 1,
                 noise: str = "normal", labels: np.ndarray | None = None, num_classes: int | None = None):
        if batch_size > len(images):
            raise DataError(f"batch size {batch_size} exceeds the {len(images)} training images")
        if (labels is None) != (num_classes is None):
            raise DataError("a conditional stream needs both the labels and the number of classes")
        self.images, self.labels, self.num_classes = images, labels, num_classes
        self.batch_size, self.noise_dim, self.seed, self.n_critic = batch_size, noise_dim, seed, n_critic
        self.noise = noise
        self.batches_per_epoch = len(images) // batch_size
        self.steps_per_epoch = self.batches_per_epoch // n_critic

    @lru_cache(maxsize=2)
    def _order(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(len(self.images))

    def _batch_rows(self, index: int) -> np.ndarray:
        epoch, position = divmod(index, self.batches_per_epoch)
        return self._order(epoch)[position * self.batch_size:(position + 1) * self.batch_size]

    def rows(self, step: int) -> np.ndarray:
        """The training-set rows of iteration ``step``'s ``n_critic`` batches, int64 [n_critic, B]."""
        return np.stack([self._batch_rows(step * self.n_critic + j) for j in range(self.n_critic)])

    def random_inputs(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        """Iteration ``step``'s noise, float32 [(n_critic + 1) * B, noise_dim] (the critic batches' rows first,
        then the generator batch's), and its gradient-penalty weights, float32 [n_critic, B]."""
        k, b = self.n_critic, self.batch_size
        noise = sample_noise(np.random.default_rng([self.seed, _STREAM_NOISE, step]), (k + 1) * b, self.noise_dim,
                             self.noise)
        gp_weight = np.random.default_rng([self.seed, _STREAM_GP, step]).uniform(0.0, 1.0, size=(k, b))
        return noise, gp_weight.astype(np.float32)

    @property
    def conditional(self) -> bool:
        return self.labels is not None

    def generator_labels(self, step: int) -> np.ndarray:
        """Iteration ``step``'s labels requested of the generator, uniform over the classes, int64
        [(n_critic + 1) * B] (the critic batches' first, then the generator batch's), as the noise rows."""
        size = (self.n_critic + 1) * self.batch_size
        return np.random.default_rng([self.seed, _STREAM_LABELS, step]).integers(0, self.num_classes, size)

    def epoch_of(self, step: int) -> int:
        return (step * self.n_critic) // self.batches_per_epoch

    def step(self, step: int) -> StepInputs:
        k, b, z = self.n_critic, self.batch_size, self.noise_dim
        noise, gp_weight = self.random_inputs(step)
        rows = self.rows(step)
        inputs = StepInputs(to_unit_range(self.images[rows]), noise[: k * b].reshape(k, b, z), noise[k * b:],
                            gp_weight)
        if not self.conditional:
            return inputs
        requested = self.generator_labels(step)
        return dataclasses.replace(inputs, real_labels=self.labels[rows].astype(np.int64),
                                   d_labels=requested[: k * b].reshape(k, b), g_labels=requested[k * b:])


class StagedFeed(ABC):
    """``feed(step)``: exactly ``stream.step(step)``'s values, as one framework's arrays on its device.

    The scaled training set crosses to the device once (``stage``) and each step's batches are gathered there
    (``take``). Noise and gradient-penalty weights are drawn on the host (pure functions of (seed, step), like
    the rows, so a resume and the other framework's run of the seed see the same values) ``chunk`` steps at a
    time, and each of the three arrays crosses in one copy per chunk (``put``) instead of a few per step.
    A framework's subclass says how to ``put`` an array, ``stage`` the images and ``take`` rows of them.
    """

    def __init__(self, stream: TrainingStream, chunk: int = 64):
        self.stream, self.chunk = stream, chunk
        self.images = self.stage(to_unit_range(stream.images))
        self.labels = self.put(stream.labels.astype(np.int64)) if stream.conditional else None
        self.first: int | None = None  # the first step of the chunk on the device

    @abstractmethod
    def put(self, array: np.ndarray):
        """One host-to-device copy; integer arrays stay integers, float ones take the run's dtype."""

    def stage(self, images: np.ndarray):
        """The training set, float32 [N, H, W] in [-1, 1], on the device (default: ``put``)."""
        return self.put(images)

    @abstractmethod
    def take(self, images, rows):
        """``images[rows]`` on the device, rows int [n_critic, B]."""

    def _load(self, first: int) -> None:
        steps = range(first, first + self.chunk)
        k, b = self.stream.n_critic, self.stream.batch_size
        noise, gp_weight = zip(*(self.stream.random_inputs(step) for step in steps))
        self.rows = self.put(np.stack([self.stream.rows(step) for step in steps]))
        self.noise = self.put(np.stack(noise).reshape(self.chunk, k + 1, b, -1))  # critic batches, then G's
        self.gp_weight = self.put(np.stack(gp_weight))
        if self.stream.conditional:
            requested = np.stack([self.stream.generator_labels(step) for step in steps]).reshape(self.chunk, k + 1, b)
            self.requested = self.put(requested)  # critic batches' labels, then G's
        self.first = first

    def __call__(self, step: int) -> StepInputs:
        if self.first is None or not 0 <= step - self.first < self.chunk:
            self._load(step)
        i, k = step - self.first, self.stream.n_critic
        noise, rows = self.noise[i], self.rows[i]
        inputs = StepInputs(self.take(self.images, rows), noise[:k], noise[k], self.gp_weight[i])
        if not self.stream.conditional:
            return inputs
        requested = self.requested[i]
        return dataclasses.replace(inputs, real_labels=self.take(self.labels, rows), d_labels=requested[:k],
                                   g_labels=requested[k])


def sample_noise(rng: np.random.Generator, n: int, noise_dim: int, distribution: str = "normal") -> np.ndarray:
    """``n`` latent vectors, float32 [n, noise_dim], from the spec's distribution."""
    if distribution == "normal":
        return rng.standard_normal((n, noise_dim), dtype=np.float32)
    if distribution == "uniform":
        return rng.uniform(-1.0, 1.0, size=(n, noise_dim)).astype(np.float32)
    if distribution == "uniform01":
        return rng.uniform(0.0, 1.0, size=(n, noise_dim)).astype(np.float32)
    raise DataError(f"unknown noise distribution {distribution!r}; valid: normal, uniform, uniform01")


def evaluation_noise(n: int, noise_dim: int, distribution: str = "normal") -> np.ndarray:
    """The fixed evaluation noise shared by every run; its first rows drive the progress grids."""
    return sample_noise(np.random.default_rng([EVAL_NOISE_SEED, _STREAM_EVAL]), n, noise_dim, distribution)


def evaluation_labels(n: int, num_classes: int) -> np.ndarray:
    """The fixed label of each evaluation noise vector, int64 [n]: 0, 1, ..., num_classes - 1, 0, 1, ... (balanced:
    1,000 per class at 10,000 samples; every prefix as balanced as its length allows)."""
    return np.arange(n, dtype=np.int64) % num_classes


def class_grid_inputs(columns: int, noise_dim: int, num_classes: int,
                      distribution: str = "normal") -> tuple[np.ndarray, np.ndarray]:
    """(noise, labels) of a class grid: row ``c`` requests class ``c``, column ``j`` uses evaluation noise vector
    ``j`` in every row; ``columns * num_classes`` rows, row-major."""
    noise = evaluation_noise(columns, noise_dim, distribution)
    return np.tile(noise, (num_classes, 1)), np.repeat(np.arange(num_classes, dtype=np.int64), columns)
