"""Suite profiles as data: how long every run trains, how many seeds, how many samples are scored.

``python benchmark/run_all.py --profile NAME`` reads one of these; nothing about a profile lives anywhere else.

* ``smoke``: every model x framework, 960 real images at batch 32 (30 iterations; WGAN and WGAN-GP: 6, of 5
  critic batches each), 1 seed, 500 samples scored against 2,000 test images. It checks that the whole pipeline runs (CI runs it); its numbers mean nothing.
* ``quick``: 1 seed, the same fraction of an epoch for every model (so every model sees the same number
  of real images), sized so that 5 models x 2 frameworks fit in about 30 minutes on 2 CPU cores.
* ``full``: 3 seeds, the spec's training length (20 epochs, Lucic et al. 2018), 10,000 scored samples and
  the Inception metrics when their weights are available. Meant for a GPU.

Lengths are given in epochs (possibly fractional) or in iterations; ``train_steps`` turns them into the
``--steps`` of the training command, with ``benchmark.spec.steps_per_epoch`` (an iteration consumes
``n_critic`` batches, so WGAN's epoch has a fifth of DCGAN's iterations).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from benchmark.spec import GANSpec, steps_per_epoch


class ProfileError(ValueError):
    """An unknown profile name; the message lists the valid ones."""


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    seeds: tuple[int, ...]
    num_samples: int  # images in samples.npz, all scored by benchmark.evaluate
    curve_samples: int  # images per eval_samples/step_*.npz (the MNIST-FID curves)
    curve_points: int  # evaluation sample sets per run
    grid_points: int  # sample grids per run (the frames of the progress GIF)
    log_points: int  # metric lines per run (the loss plots)
    steps: int | None = None  # iterations per run; else ``images``, else ``epochs``
    images: int | None = None  # real images per run (an iteration consumes batch_size x n_critic of them)
    epochs: float | None = None  # None with steps and images None: the spec's epochs
    batch_size: int | None = None  # None: the spec's
    inception: bool = False  # Inception-v3 metrics (they need the weights; on CPU they are slow)
    reference_count: int | None = None  # MNIST test images on the real side (None: all 10,000)
    budget_note: str = ""

    def train_steps(self, spec: GANSpec) -> int:
        """Generator iterations of one run of ``spec`` under this profile."""
        if self.steps is not None:
            return self.steps
        if self.batch_size:
            spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=self.batch_size))
        if self.images is not None:
            return max(1, math.ceil(self.images / (spec.training.batch_size * spec.objective.n_critic)))
        epochs = spec.training.epochs if self.epochs is None else self.epochs
        return max(1, math.ceil(epochs * steps_per_epoch(spec)))

    def length_text(self) -> str:
        if self.steps is not None:
            return f"{self.steps} iterations"
        if self.images is not None:
            return f"{self.images} real images"
        return "the spec's epochs" if self.epochs is None else f"{self.epochs:g} epoch(s)"


PROFILES: dict[str, Profile] = {}


def register(profile: Profile) -> Profile:
    if profile.name in PROFILES:
        raise ProfileError(f"profile {profile.name!r} is registered twice")
    PROFILES[profile.name] = profile
    return profile


register(Profile(
    name="smoke", description="pipeline check: every model x framework, a few iterations, 1 seed",
    seeds=(0,), images=960, batch_size=32, num_samples=500, curve_samples=200, curve_points=2, grid_points=4,
    log_points=8, reference_count=2_000, budget_note="under 5 minutes on 2 CPU cores"))
register(Profile(
    name="quick", description="a short training of every model x framework, 1 seed",
    seeds=(0,), epochs=0.2, num_samples=2_000, curve_samples=500, curve_points=4, grid_points=6,
    log_points=20, budget_note="about 30 minutes on 2 CPU cores"))
register(Profile(
    name="full", description="the spec's training length, 3 seeds, 10,000 samples, Inception metrics",
    seeds=(0, 1, 2), epochs=None, num_samples=10_000, curve_samples=2_000, curve_points=20, grid_points=20,
    log_points=200, inception=True, budget_note="a GPU: hours on a CPU"))


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}") from None


def every(total: int, points: int) -> int:
    """The interval that gives about ``points`` events over ``total`` iterations (the last one always counts)."""
    return max(1, total // max(points, 1))
