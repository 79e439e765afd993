"""The toy GAN with Keras 3, every seed in one process:
``python -m tensorflow_impl.toy --backend jax --seeds 0,1 --out OUT``.

The flags are ``benchmark.toy_training``'s plus ``--backend tensorflow|jax``; the loop, inputs and measures are
shared with the PyTorch implementation. The step is compiled once, for the first seed, and kept for the others."""
from __future__ import annotations

import sys

from benchmark import toy_training
from tensorflow_impl.seeding import BACKENDS
from tensorflow_impl.train import make_trainer


def main(argv: list[str] | None = None) -> int:
    parser = toy_training.toy_parser("tensorflow_impl")
    parser.add_argument("--backend", choices=BACKENDS, default="tensorflow",
                        help="Keras backend (sets KERAS_BACKEND before Keras is imported)")
    return toy_training.main(argv, "tensorflow_impl", make_trainer, parser=parser)


if __name__ == "__main__":
    sys.exit(main())
