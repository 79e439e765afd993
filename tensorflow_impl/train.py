"""Train one GAN of the spec with Keras 3:
``python -m tensorflow_impl.train --backend jax --model dcgan --seed 0 --out RUN_DIR``.

The flags are PyTorch's (``benchmark.training.train_parser``) plus ``--backend tensorflow|jax``. Keras reads
``KERAS_BACKEND`` once, when it is first imported, so this module imports no Keras: ``make_trainer`` sets the
backend, then imports ``tensorflow_impl.trainer``. ``KerasGAN`` is the framework half of a run; the loop,
logging, timing and resume around it are ``benchmark.training``'s, shared with the PyTorch implementation.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmark import training
from benchmark.data import StepInputs
from benchmark.spec import GANSpec
from tensorflow_impl.seeding import BACKENDS, select_backend


def train_parser() -> argparse.ArgumentParser:
    parser = training.train_parser("tensorflow_impl")
    parser.add_argument("--backend", choices=BACKENDS, default="tensorflow",
                        help="Keras backend (sets KERAS_BACKEND before Keras is imported)")
    return parser


def make_trainer(spec: GANSpec, args: argparse.Namespace, compile_step: bool = True):
    """A ``KerasGAN`` on ``args.backend``; with ``compile_step`` its iteration is compiled here, on the shapes
    training will use, so compilation is timed apart from the steps (``describe()["compile_seconds"]``)."""
    select_backend(getattr(args, "backend", None))
    from tensorflow_impl import runtime
    from tensorflow_impl.trainer import KerasGAN

    runtime.set_threads()
    runtime.check_on_gpu(args.device)
    mode = runtime.check_mode(getattr(args, "mode", None))
    trainer = KerasGAN(spec, args.seed, args.device, args.deterministic, jit_compile=runtime.JIT_COMPILE[mode])
    if compile_step:
        trainer.compile(placeholder_inputs(spec))
    return trainer


def placeholder_inputs(spec: GANSpec) -> StepInputs:
    """Zeros of one iteration's shapes, for the compile call (their outputs are discarded); a sample is the spec's
    ``image_shape`` without its channel axis ([H, W] for an image, a scalar for a 1-D data point)."""
    k, b, z = spec.objective.n_critic, spec.training.batch_size, spec.training.noise_dim
    sample = tuple(spec.architecture.image_shape)[1:]
    return StepInputs(np.zeros((k, b, *sample), np.float32), np.zeros((k, b, z), np.float32),
                      np.zeros((b, z), np.float32), np.zeros((k, b), np.float32))


def main(argv: list[str] | None = None) -> int:
    return training.main(argv, "tensorflow_impl", make_trainer, parser=train_parser())


if __name__ == "__main__":
    sys.exit(main())
