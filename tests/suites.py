"""What the tests of real suites share: ``run_all`` as a child process, with MNIST found offline, and the
process checks of an interrupted suite."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark import runs

REPO = Path(__file__).resolve().parent.parent
RUN_ALL = [sys.executable, str(REPO / "benchmark" / "run_all.py")]
OFFLINE_MNIST = REPO.parent / "shared" / "datasets" / "mnist"
needs_mnist = pytest.mark.skipif(not os.environ.get("MNIST_DIR") and not OFFLINE_MNIST.is_dir(),
                                 reason="MNIST not available offline (set MNIST_DIR)")


def suite_env() -> dict:
    env = dict(os.environ)
    if "MNIST_DIR" not in env and OFFLINE_MNIST.is_dir():
        env["MNIST_DIR"] = str(OFFLINE_MNIST)
    return env


def run_all(*args: str, timeout: float = 900, env: dict | None = None) -> subprocess.CompletedProcess:
    """``run_all.py`` with ``args`` in a child process; ``env``: variables to set on top of the suite's."""
    return subprocess.run([*RUN_ALL, *args], cwd=REPO, env=suite_env() | (env or {}), capture_output=True, text=True,
                          timeout=timeout)


def suite_with_training_child(args: list[str], run_dir: Path) -> tuple[subprocess.Popen, int]:
    """A suite started with ``args``, once the child it started for ``run_dir`` trains; and that child's pid."""
    started = time.time()
    process = subprocess.Popen([*RUN_ALL, *args], cwd=REPO, env=suite_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    metrics, lock, deadline = run_dir / runs.METRICS, run_dir / ".lock", started + 600
    while not (metrics.exists() and metrics.stat().st_mtime > started and lock.exists()):
        assert process.poll() is None and time.time() < deadline, process.stdout.read() if process.poll() else ""
        time.sleep(0.05)
    return process, json.loads(lock.read_text())["pid"]


def dies(pid: int, timeout: float = 30) -> bool:
    """Whether process ``pid`` (not a child of this one) ends within ``timeout`` seconds; killed if it does not."""
    deadline = time.time() + timeout
    while running(pid) and time.time() < deadline:
        time.sleep(0.1)
    if running(pid):
        os.kill(pid, signal.SIGKILL)
        return False
    return True


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
