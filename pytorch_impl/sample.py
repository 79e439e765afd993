"""``python -m pytorch_impl.sample --run RUN_DIR --n 64 --out grid.png [--interpolate]``."""
from __future__ import annotations

import sys

from benchmark import sampling
from pytorch_impl.train import make_trainer


def main(argv: list[str] | None = None) -> int:
    return sampling.main(argv, "pytorch_impl", make_trainer)


if __name__ == "__main__":
    sys.exit(main())
