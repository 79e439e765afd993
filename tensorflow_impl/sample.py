"""``python -m tensorflow_impl.sample --run RUN_DIR --n 64 --out grid.png [--interpolate]``.

The Keras backend is the one the run was trained with (``config.json``'s ``backend``)."""
from __future__ import annotations

import sys

from benchmark import sampling
from tensorflow_impl.train import make_trainer


def main(argv: list[str] | None = None) -> int:
    return sampling.main(argv, "tensorflow_impl", lambda spec, args: make_trainer(spec, args, compile_step=False))


if __name__ == "__main__":
    sys.exit(main())
