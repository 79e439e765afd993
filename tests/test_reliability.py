"""Faults and bad input: corrupt checkpoints, torn logs, bad arguments, locks, signals, unsafe weights files.

Tiny vanilla PyTorch runs (batch 8, a few iterations) in this process where possible, in a subprocess where a
signal or a kill is part of the test.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import checkpoints, runs
from benchmark.data import resolve_data_dir
from pytorch_impl.train import main

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--batch-size", "8", "--num-samples", "16", "--curve-samples", "16", "--log-every", "1"]
needs_mnist = pytest.mark.skipif(not (resolve_data_dir() / "train-images-idx3-ubyte.gz").exists(),
                                 reason="MNIST not found: set $MNIST_DIR")


def train(out: Path, steps: int = 4, *extra: str) -> int:
    return main(["--model", "vanilla", "--steps", str(steps), "--out", str(out), *TINY, *extra])


def weights(path: Path) -> dict[str, torch.Tensor]:
    state = torch.load(path, weights_only=True)
    return {f"{net}.{k}": v for net in ("generator", "discriminator") for k, v in state[net].items()}


def same_weights(a: Path, b: Path) -> bool:
    first, second = weights(a), weights(b)
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def metrics_without_time(run_dir: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "elapsed"} for r in runs.MetricsLog(run_dir / runs.METRICS).records()]


def last_pt(run_dir: Path) -> Path:
    return run_dir / runs.CHECKPOINTS / "last.pt"


def flip_byte(path: Path, offset: int | None = None) -> None:
    data = bytearray(path.read_bytes())
    offset = len(data) // 2 if offset is None else offset
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------------------------ 7. checkpoints

@needs_mnist
def test_a_bit_flipped_last_checkpoint_is_not_loaded_and_the_previous_one_is(tmp_path, capsys):
    assert train(tmp_path / "straight", 6) == 0
    assert train(tmp_path / "run", 4, "--checkpoint-every", "2") == 0
    previous = checkpoints.previous_of(last_pt(tmp_path / "run"))
    assert previous.exists() and (previous.parent / "previous.pt.sha256").exists()
    flip_byte(last_pt(tmp_path / "run"))
    capsys.readouterr()
    assert train(tmp_path / "run", 6, "--checkpoint-every", "2") == 0
    assert "last.pt: SHA-256 does not match its record" in capsys.readouterr().err
    assert runs.read_json(tmp_path / "run" / runs.CONFIG)["resumed_from_step"] == 2
    assert same_weights(last_pt(tmp_path / "run"), last_pt(tmp_path / "straight"))
    assert metrics_without_time(tmp_path / "run") == metrics_without_time(tmp_path / "straight")


@needs_mnist
@pytest.mark.parametrize("damage", ["truncate", "random", "empty", "flip"])
def test_a_corrupt_checkpoint_without_a_good_previous_one_is_refused_in_one_line(tmp_path, capsys, damage):
    assert train(tmp_path, 2, "--checkpoint-every", "0") == 0
    path = last_pt(tmp_path)
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(path.stat().st_size))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        flip_byte(path)
    capsys.readouterr()
    assert train(tmp_path, 4) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no usable checkpoint" in err and "last.pt: SHA-256" in err
    assert "Traceback" not in err


def test_checkpoint_rotation_keeps_one_verifiable_file_at_every_instant(tmp_path):
    last = tmp_path / "last.bin"
    checkpoints.save(last, lambda p: p.write_bytes(b"one"))
    checkpoints.save(last, lambda p: p.write_bytes(b"two"))
    assert checkpoints.load(last, lambda p: {"content": p.read_bytes()}) == {"content": b"two"}
    os.replace(last, checkpoints.previous_of(last))  # killed after renaming the file, before its record
    assert checkpoints.load(last, lambda p: {"content": p.read_bytes()}) == {"content": b"two"}
    with pytest.raises(runs.RunError, match="next"):  # a refusal by the framework passes through
        checkpoints.load(last, lambda p: (_ for _ in ()).throw(runs.RunError("next")))
