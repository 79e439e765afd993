"""Start, and collect, Keras worker processes (``keras_side``) from the PyTorch process."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def start(backend: str, request: dict, folder: Path) -> subprocess.Popen:
    """Write ``request`` into ``folder`` and start a worker on ``backend``; ``finish`` collects it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "request.pkl").write_bytes(pickle.dumps(request))
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen([sys.executable, "-m", "benchmark.parity", "keras-worker", "--backend", backend,
                             "--request", str(folder / "request.pkl"), "--response", str(folder / "response.pkl")],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, folder: Path, timeout: float = 1200) -> dict:
    """Wait for the worker; its response, or a RuntimeError carrying the end of its output."""
    output, _ = process.communicate(timeout=timeout)
    response = folder / "response.pkl"
    if process.returncode != 0 or not response.exists():
        raise RuntimeError(f"Keras worker failed (exit {process.returncode}):\n{output[-4000:]}")
    return pickle.loads(response.read_bytes())


def run(backend: str, request: dict, timeout: float = 1200) -> dict:
    """Run ``request`` in a fresh Keras process on ``backend`` and return its response."""
    with tempfile.TemporaryDirectory() as folder:
        return finish(start(backend, request, Path(folder)), Path(folder), timeout)
