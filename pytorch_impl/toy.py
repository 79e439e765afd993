"""The toy GAN with PyTorch, every seed in one process: ``python -m pytorch_impl.toy --seeds 0,1 --out OUT``.

The loop, inputs and measures are ``benchmark.toy_training``'s, shared with the Keras implementation."""
from __future__ import annotations

import sys

from benchmark import toy_training
from pytorch_impl.train import make_trainer


def main(argv: list[str] | None = None) -> int:
    return toy_training.main(argv, "pytorch_impl", make_trainer)


if __name__ == "__main__":
    sys.exit(main())
