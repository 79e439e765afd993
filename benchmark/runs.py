"""The run-folder contract that both implementations write and the evaluation and report read.

::

    RUN_DIR/
      config.json          resolved spec, seed, framework, versions, device, determinism, parameter counts, git commit
      metrics.jsonl        one line per log interval: step, epoch, d_loss, g_loss, extra terms, elapsed
      timing.json          set-up, warm-up (compile) and steady-state seconds per step, images/s, total
      result.json          status (completed | diverged | interrupted | failed), exit code, final step
      checkpoints/last.*   model, optimiser and RNG state and the step (framework-specific format)
      samples.npz          key ``images``: uint8 [N, 28, 28] from the shared evaluation noise
      grids/step_*.png     8x8 grids from the first 64 evaluation noise vectors, at regular intervals
      eval_samples/step_*.npz  ``images`` uint8 [n, 28, 28], ``step``, ``elapsed``: for quality curves
      eval.json, curve.json    written by ``benchmark.evaluate``

Every file is written atomically (temporary file + rename), so a killed run never leaves half a file.
"""
from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

CONFIG, METRICS, TIMING, RESULT = "config.json", "metrics.jsonl", "timing.json", "result.json"
SAMPLES, EVAL, CURVE = "samples.npz", "eval.json", "curve.json"
CHECKPOINTS, GRIDS, EVAL_SAMPLES = "checkpoints", "grids", "eval_samples"

COMPLETED, DIVERGED, INTERRUPTED, FAILED = "completed", "diverged", "interrupted", "failed"
EXIT_CODES = {COMPLETED: 0, FAILED: 1, DIVERGED: 3, INTERRUPTED: 4}


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write through ``write(file)`` into a temporary sibling, then rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode) as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike, data: Any) -> None:
    atomic_write(path, lambda f: json.dump(data, f, indent=2, sort_keys=True, default=_jsonable), mode="w")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def write_npz(path: str | os.PathLike, *, compressed: bool = True, **arrays: Any) -> None:
    """``compressed=False`` for checkpoints: deflating hundreds of MB of float weights costs seconds of
    single-threaded CPU per save, which a GPU run spends idle; samples compress well and stay small."""
    atomic_write(path, lambda f: (np.savez_compressed if compressed else np.savez)(f, **arrays))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def step_name(step: int, suffix: str) -> str:
    return f"step_{step:08d}{suffix}"


def image_grid(images: np.ndarray, columns: int = 8, pad: int = 2) -> np.ndarray:
    """uint8 [N, H, W] -> one uint8 [rows * (H + pad) + pad, columns * (W + pad) + pad] mosaic."""
    count, height, width = images.shape
    rows = -(-count // columns)
    grid = np.zeros((rows * (height + pad) + pad, columns * (width + pad) + pad), dtype=np.uint8)
    for index, image in enumerate(images):
        top, left = pad + (index // columns) * (height + pad), pad + (index % columns) * (width + pad)
        grid[top:top + height, left:left + width] = image
    return grid


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    atomic_write(path, lambda f: Image.fromarray(image).save(f, format="PNG"))


class MetricsLog:
    """``metrics.jsonl``: appended line by line; cut back to a checkpoint's step on resume."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, record: dict) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps(record, sort_keys=True, default=_jsonable) + "\n")

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = [line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        atomic_write(self.path, lambda f: f.write("".join(line + "\n" for line in kept)), mode="w")

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line]


def git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` when it has changes), or None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("-dirty" if dirty else "")


def cpu_model() -> str:
    """The CPU's marketing name (``platform.processor()`` is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or platform.machine()
