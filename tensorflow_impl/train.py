"""Train one GAN of the spec with Keras 3:
``python -m tensorflow_impl.train --backend jax --model dcgan --seed 0 --out RUN_DIR``.

The flags are PyTorch's (``benchmark.training.train_parser``) plus ``--backend tensorflow|jax|torch``. Keras reads
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
from benchmark.run_config import RunConfig
from benchmark.spec import GANSpec
from tensorflow_impl.seeding import BACKENDS, select_backend


def train_parser() -> argparse.ArgumentParser:
    parser = training.train_parser("tensorflow_impl")
    parser.add_argument("--backend", choices=BACKENDS, default="tensorflow",
                        help="Keras backend (sets KERAS_BACKEND before Keras is imported; torch: --mode fit only)")
    return parser


def make_trainer(spec: GANSpec, config: RunConfig, compile_step: bool = True):
    """A ``KerasGAN`` (mode ``fit``: a ``KerasFitTrainer``) on ``config.backend``; with ``compile_step`` its iteration
    is compiled here, on the shapes training will use, so compilation is timed apart from the steps
    (``describe()["compile_seconds"]``); ``fit`` compiles in its first iteration, as Keras users run it."""
    select_backend(config.backend)
    from tensorflow_impl import runtime

    runtime.set_threads()
    runtime.check_on_gpu(config.device)
    mode = runtime.check_mode(config.mode)
    trainer = trainer_class(mode)(spec, config.seed, config.device, config.deterministic,
                                  jit_compile=runtime.JIT_COMPILE[mode])
    if compile_step and mode not in runtime.COMPILED_BY_FIT:
        trainer.compile(placeholder_inputs(spec))
    return trainer


def trainer_class(mode: str | None) -> type:
    """``KerasFitTrainer`` for the ``fit`` mode, ``KerasGAN`` (the stateless step) for the others. Imports Keras:
    call after ``select_backend``."""
    from tensorflow_impl import runtime
    if mode in runtime.COMPILED_BY_FIT:
        from tensorflow_impl.fit_trainer import KerasFitTrainer
        return KerasFitTrainer
    from tensorflow_impl.trainer import KerasGAN
    return KerasGAN


def placeholder_inputs(spec: GANSpec) -> StepInputs:
    """Zeros of one iteration's shapes, for the compile call (their outputs are discarded); a sample is the spec's
    ``sample_shape`` ([H, W] for a one-channel image, [H, W, C] for more, a scalar for a 1-D data point)."""
    k, b, z = spec.objective.n_critic, spec.training.batch_size, spec.training.noise_dim
    labels = dict(real_labels=np.zeros((k, b), np.int64), d_labels=np.zeros((k, b), np.int64),
                  g_labels=np.zeros(b, np.int64)) if spec.conditional else {}
    sample = spec.architecture.sample_shape
    return StepInputs(np.zeros((k, b, *sample), np.float32), np.zeros((k, b, z), np.float32),
                      np.zeros((b, z), np.float32), np.zeros((k, b), np.float32), **labels)


def main(argv: list[str] | None = None) -> int:
    return training.main(argv, "tensorflow_impl", make_trainer, parser=train_parser())


if __name__ == "__main__":
    sys.exit(main())
