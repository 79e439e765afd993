"""What the tests of real suites share: ``run_all`` as a child process, with MNIST found offline, the process
checks of an interrupted suite, and what every finished run folder holds."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from benchmark import initial_weights, runs
from benchmark.frameworks import KERAS, Framework
from benchmark.spec import get_spec, parameter_count

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


def due_steps(total: int, every: int) -> list[int]:
    """The steps a schedule of ``every`` iterations acts on over ``total``: the multiples, and the last step."""
    return sorted({*range(every, total + 1, every), total} if every > 0 else {total})


def check_full_run_folder(run_dir: Path, framework: Framework) -> None:
    """A completed run folder holds every file of the run-folder contract (``benchmark.runs``), as asked for by its
    own ``run_config.json``: config with the spec's parameter counts and seeded initial weights, samples, a grid
    at every grid step, the curve set of the last step, a metric line at every log step, timing and result."""
    asked = runs.read_json(run_dir / runs.RUN_CONFIG)
    steps, batch_size, spec = asked["steps"], asked["batch_size"], get_spec(asked["model"], asked["dataset"])
    config = runs.read_json(run_dir / runs.CONFIG)
    assert (config["framework"], config["backend"], config["model"], config["seed"]) == (
        framework.family, framework.backend, asked["model"], asked["seed"])
    assert config["parameters"]["generator"] == parameter_count(spec.architecture.generator, (spec.training.noise_dim,))
    assert config["spec"]["training"]["batch_size"] == batch_size
    environment = config["environment"]
    assert environment["determinism"] == "seeded" and environment["precision"]["tf32_matmul"] is False
    assert environment["initial_weights"] == initial_weights.describe(initial_weights.draw(spec, asked["seed"]))
    if framework.family == KERAS:  # its step is compiled before training, and timed apart
        assert environment["compiled"] is True and environment["compile_seconds"] > 0
    image_shape = spec.architecture.sample_shape
    with np.load(run_dir / runs.SAMPLES) as samples:
        assert samples["images"].shape == (asked["num_samples"], *image_shape) and samples["images"].dtype == np.uint8
    grids = sorted(p.name for p in (run_dir / runs.GRIDS).iterdir())
    assert grids == [f"step_{step:08d}.png" for step in due_steps(steps, asked["grid_every"])]
    with np.load(run_dir / runs.EVAL_SAMPLES / f"step_{steps:08d}.npz") as curve:
        assert curve["images"].shape == (asked["curve_samples"], *image_shape)
        assert int(curve["step"]) == steps and float(curve["elapsed"]) > 0
    records = runs.MetricsLog(run_dir / runs.METRICS).records()
    assert [record["step"] for record in records] == due_steps(steps, asked["log_every"])
    assert spec.objective.gp_weight is None or "gp" in records[0]  # WGAN-GP logs its penalty
    timing = runs.read_json(run_dir / runs.TIMING)
    assert timing["train_seconds"] > 0 and timing["images_per_step"] == batch_size * spec.objective.n_critic
    result = runs.read_json(run_dir / runs.RESULT)
    assert (result[runs.KEY_STATUS], result[runs.KEY_EXIT_CODE], result[runs.KEY_STEP]) == (runs.COMPLETED, 0, steps)


def metrics_without_time(run_dir: Path) -> list[dict]:
    """A run's metrics records without their wall-clock time, which no two runs share."""
    return [{k: v for k, v in r.items() if k != "elapsed"} for r in runs.MetricsLog(run_dir / runs.METRICS).records()]


def assert_trained_alike(expected: Path, actual: Path, checkpoint: Callable[[Path], dict[str, np.ndarray]]) -> None:
    """Two run folders of one seed: the same metrics (times aside), scored samples and last checkpoint's arrays,
    bitwise; ``checkpoint`` reads a run folder's arrays in its framework's format."""
    assert metrics_without_time(expected) == metrics_without_time(actual)
    assert np.array_equal(np.load(expected / runs.SAMPLES)["images"], np.load(actual / runs.SAMPLES)["images"])
    first, second = checkpoint(expected), checkpoint(actual)
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
