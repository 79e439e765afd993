"""The run-folder contract that both implementations write and the evaluation and report read.

::

    RUN_DIR/
      run_config.json      the command line's configuration (``benchmark.run_config``), checked on resume
      config.json          resolved spec, seed, framework, versions, device, determinism, parameter counts, git commit
      metrics.jsonl        one line per log interval: step, epoch, d_loss, g_loss, extra terms, elapsed
      timing.json          set-up, warm-up (compile) and steady-state seconds per step, images/s, total; ``segments``:
                           one record per training process, the steady state combined over all of them
      result.json          status (completed | diverged | interrupted | failed), exit code, final step
      checkpoints/last.*   model, optimiser and RNG state and the step (framework-specific format); ``last.*.sha256``
                           its digest, ``previous.*`` (+ digest) the checkpoint before it (``benchmark.checkpoints``)
      .lock                held while a process trains the folder (``benchmark.locking``)
      samples.npz          key ``images``: uint8 [N, H, W] (MNIST: [N, 28, 28]; colour: [N, H, W, C]) from the shared
                           evaluation noise
      grids/step_*.png     8x8 grids from the first 64 evaluation noise vectors, at regular intervals
      eval_samples/step_*.npz  ``images`` uint8 [n, H, W(, C)], ``step``, ``elapsed``: for quality curves
      eval.json, curve.json    written by ``benchmark.evaluate``
      train.log, eval.log      the children's output, written by the suite

A suite folder holds ``suite.json`` and ``runs/<model>-<framework>-seed<S>/``, one run folder each.

This module owns every file name, status, exit code and ``result.json`` key, and the one JSON reader
(``read_json``); the suite, the evaluation and the report read them from here.

Every file is written atomically (temporary file + rename), so a killed run never leaves half a file; the
temporary it may leave is removed by the next write of that file or the next training start. ``metrics.jsonl``
is appended line by line, so a full disk can tear its last line: readers drop it.
"""
from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PIL import Image

CONFIG, METRICS, TIMING, RESULT = "config.json", "metrics.jsonl", "timing.json", "result.json"
RUN_CONFIG = "run_config.json"
SAMPLES, EVAL, CURVE = "samples.npz", "eval.json", "curve.json"
CHECKPOINTS, GRIDS, EVAL_SAMPLES = "checkpoints", "grids", "eval_samples"

TRAIN_LOG, EVAL_LOG = "train.log", "eval.log"
SUITE_FILE, RUNS_DIR = "suite.json", "runs"

COMPLETED, DIVERGED, INTERRUPTED, FAILED = "completed", "diverged", "interrupted", "failed"
# Exit codes of every entry point (train CLIs, run_all, evaluate): 2 is a refusal before anything ran.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 2, 3, 4
EXIT_CODES = {COMPLETED: EXIT_OK, FAILED: EXIT_FAILED, DIVERGED: EXIT_DIVERGED, INTERRUPTED: EXIT_INTERRUPTED}
EXIT_MEANINGS = {EXIT_OK: "completed", EXIT_FAILED: "failed", EXIT_USAGE: "refused its arguments",
                 EXIT_DIVERGED: "diverged", EXIT_INTERRUPTED: "interrupted"}
# result.json: status and exit code always; step and steps once training ran; reason (diverged), signal
# (interrupted) or error (failed) say why.
KEY_STATUS, KEY_EXIT_CODE, KEY_STEP, KEY_STEPS = "status", "exit_code", "step", "steps"
KEY_REASON, KEY_SIGNAL, KEY_ERROR = "reason", "signal", "error"
GIT_COMMIT_ENV = "GANBENCH_GIT_COMMIT"


class RunError(RuntimeError):
    """A run that cannot start or continue, explained in one line (entry points print it and exit 2)."""


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# Read once, at import (single-threaded): os.umask can only be read by setting it, which threads would race on.
UMASK = _umask()
TEMPORARY_GLOB = ".{name}.*.tmp"


def remove_temporaries(folder: Path, name: str = "*") -> None:
    """Delete the temporary files that a killed writer left (``.<name>.*.tmp``; a checkpoint's can be large).
    Each file has one writer at a time (the folder lock), so a temporary found before writing is stale."""
    for stale in folder.glob(TEMPORARY_GLOB.format(name=name)):
        stale.unlink(missing_ok=True)


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> None:
    """Write through ``write(file)`` into a temporary sibling, then rename it over ``path``. The file gets the
    permissions of an ordinary new file (0666 less the umask), not mkstemp's 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_temporaries(path.parent, glob.escape(path.name))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(handle, 0o666 & ~UMASK)
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


_RAISE = object()


def read_json(path: str | os.PathLike, default: Any = _RAISE) -> Any:
    """The file's JSON. Without ``default`` a missing or unreadable file raises (``OSError``, ``ValueError``); with
    it, ``default`` stands in for a missing, unreadable or torn file (a reader that must go on regardless)."""
    if default is _RAISE:
        return json.loads(Path(path).read_text())
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def checkpointed_step(run_dir: str | os.PathLike) -> int:
    """The iterations a run folder holds up to its last checkpoint as its ``timing.json`` records them (written at
    every checkpoint), 0 when it records none: where a resume starts, read without loading a framework."""
    segments = read_json(Path(run_dir) / TIMING, {}).get("segments", [])
    return max((s.get("end_step", 0) for s in segments if isinstance(s, dict)), default=0)


def status_of_exit(code: int | None) -> str:
    """The run status a training child's exit code stands for; anything unknown is a failure."""
    return {exit_code: status for status, exit_code in EXIT_CODES.items()}.get(code, FAILED)


def describe_exit(code: int | None) -> str:
    """``exit 3 (diverged)``, ``killed by SIGKILL`` or ``not run``, for logs and reports."""
    if code is None:
        return "not run"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code} ({EXIT_MEANINGS.get(code, 'unexpected exit code')})"


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


def step_of(name: str) -> int:
    """The step of a ``step_name`` (``step_00000120.npz`` -> 120)."""
    return int(name.split(".")[0].removeprefix("step_"))


GRID_COLUMNS = 8  # images per row of a sample grid


def image_grid(images: np.ndarray, columns: int = GRID_COLUMNS, pad: int = 2) -> np.ndarray:
    """uint8 [N, H, W] (grey) or [N, H, W, C] (colour) -> one uint8 [rows * (H + pad) + pad, columns * (W + pad) + pad]
    mosaic, with the images' channel axis if they have one (``save_png`` writes it as RGB)."""
    count, height, width, *channels = images.shape
    rows = -(-count // columns)
    grid = np.zeros((rows * (height + pad) + pad, columns * (width + pad) + pad, *channels), dtype=np.uint8)
    for index, image in enumerate(images):
        top, left = pad + (index // columns) * (height + pad), pad + (index % columns) * (width + pad)
        grid[top:top + height, left:left + width] = image
    return grid


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    atomic_write(path, lambda f: Image.fromarray(image).save(f, format="PNG"))


class MetricsLog:
    """``metrics.jsonl``: appended line by line (each line synced to disk); cut back to a checkpoint's step on
    resume. A write cut short (full disk, power loss) can leave a torn last line: it is dropped with a note."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, record: dict) -> None:
        with self.path.open("a") as file:
            file.write(_json_line(record))
            file.flush()
            os.fsync(file.fileno())

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        kept = [record for record in self.records() if record["step"] <= step]
        atomic_write(self.path, lambda f: f.write("".join(_json_line(record) for record in kept)), mode="w")

    def records(self) -> list[dict]:
        if not self.path.exists():
            return []
        lines = self.path.read_text().splitlines()
        records = []
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                record = None
            if isinstance(record, dict) and "step" in record:
                records.append(record)
            elif number == len(lines):
                print(f"warning: {self.path}: dropped a torn last line ({line[:40]!r})", file=sys.stderr)
            else:
                raise RunError(f"{self.path}: line {number} is not a metrics record ({line[:40]!r}); "
                               f"delete the run folder to start again")
        return records


def _json_line(record: dict) -> str:
    return json.dumps(record, sort_keys=True, default=_jsonable) + "\n"


def git_commit() -> str | None:
    """The checkout's commit (with ``-dirty`` when it has changes), or None outside git; ``$GANBENCH_GIT_COMMIT``
    when set (a Ray worker runs a copy of the driver's checkout without its ``.git``)."""
    if os.environ.get(GIT_COMMIT_ENV):
        return os.environ[GIT_COMMIT_ENV]
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
