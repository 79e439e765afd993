"""``python -m benchmark.parity lockstep|audit`` (and ``keras-worker``, started by ``benchmark.parity.worker``).

Each command imports only what it needs: the Keras worker must never import torch (PARITY-NOTES §1), except on
Keras' torch backend, where it must never import TensorFlow.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmark.parity import BACKENDS, FIT_BACKENDS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.parity",
                                     description="PyTorch vs Keras parity measurements (JSON for the report).")
    commands = parser.add_subparsers(dest="command", required=True)
    step = commands.add_parser("lockstep", help="PyTorch vs Keras float32 drift per step (JSON)")
    step.add_argument("--model", default="dcgan")
    step.add_argument("--steps", type=int, default=20)
    step.add_argument("--batch-size", type=int, default=16)
    step.add_argument("--seed", type=int, default=0)
    step.add_argument("--out", type=Path)
    audit = commands.add_parser("audit", help="measured PyTorch vs Keras defaults (JSON)")
    audit.add_argument("--out", type=Path)
    keras = commands.add_parser("keras-worker", help=argparse.SUPPRESS)
    keras.add_argument("--backend", choices=(*BACKENDS, *FIT_BACKENDS), required=True)
    keras.add_argument("--request", required=True)
    keras.add_argument("--response", required=True)
    args = parser.parse_args(argv)
    if args.command == "keras-worker":
        from benchmark.parity.keras_side import keras_worker
        keras_worker(args.backend, args.request, args.response)
        return 0
    if args.command == "lockstep":
        from benchmark.parity import lockstep
        out = args.out or lockstep.OUT
        lockstep.lockstep(args.model, args.steps, args.batch_size, args.seed, out=out)
    else:
        from benchmark.parity import audit
        out = args.out or audit.OUT
        audit.defaults_audit(out)
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
