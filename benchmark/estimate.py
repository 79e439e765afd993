"""How long a suite will take on this machine, said before it starts: the measured cost of an iteration on the
reference machine, scaled by a short calibration of this one.

The calibration times single-thread float32 matrix products (numpy in a child process, its BLAS held to one thread) for
about a second: the iterations of these models are dominated by such products, so the ratio of this machine's rate
to the reference machine's scales their measured cost. It is an estimate: contention, a GPU, or a CPU whose vector
units favour other shapes move it; the suite prints its real ETA as runs finish. The costs were measured on MNIST;
another data set's are scaled by the ratio of the networks' multiply-adds for its image shape (``shape_factor``:
CIFAR-10's 32x32x3 makes a dcgan iteration 1.34x MNIST's, a vanilla one 2.59x; Fashion-MNIST's is MNIST's).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache

from benchmark.datasets import DEFAULT_DATASET
from benchmark.frameworks import FRAMEWORKS
from benchmark.spec import GANSpec, get_spec, network_body, network_shapes
from benchmark.speed import PROCESSES
from benchmark.suite_plan import PlannedRun, SuiteOptions, plan, speed_frameworks

# ms per iteration on one core of the reference machine (2-core AMD EPYC, idle, one thread pinned per process,
# 2026-11-30), by model and framework (a registry entry's run-folder name): vanilla and dcgan in every CPU mode from
# the speed phase (``benchmark.speed``: the median over 2 processes × 3 windows of 10 iterations, every fit window
# inside one ``Model.fit``; results/speed-cpu/); wgan and wgan-gp in PyTorch eager only (PARITY-NOTES §11: two runs
# side by side, a core each).
MEASURED_MS = {
    "vanilla": {"pytorch": 48.0, "pytorch-fused": 39.3, "pytorch-compile": 49.7, "pytorch-compile-step": 41.9,
                "keras-tensorflow": 32.4, "keras-tf-graph": 33.6, "keras-jax": 28.7, "keras-tf-fit": 34.6,
                "keras-jax-fit": 29.3, "keras-torch-fit": 83.9},
    "dcgan": {"pytorch": 391.1, "pytorch-fused": 326.2, "pytorch-compile": 406.4, "pytorch-compile-step": 336.8,
              "keras-tensorflow": 301.0, "keras-tf-graph": 322.9, "keras-jax": 620.1, "keras-tf-fit": 327.8,
              "keras-jax-fit": 618.7, "keras-torch-fit": 670.1},
    "wgan": {"pytorch": 1220.0},
    "wgan-gp": {"pytorch": 2060.0},
}
# a model whose iteration costs what this one's does: lsgan has dcgan's networks; cgan is vanilla's MLP with a
# 10-wide label input (its CPU time per iteration measured under load, 54 ms PyTorch and 42 ms Keras-TF, is within
# the contention's inflation of vanilla's)
SAME_NETWORK = {"lsgan": "dcgan", "cgan": "vanilla"}
SCALED_LIKE = "dcgan"  # a mode not measured on a model: the model's PyTorch cost × this model's mode / PyTorch ratio
REFERENCE_GFLOPS = 104.0  # ``calibrate()`` on the reference machine, idle: 103.4-104.8 in 5 runs (2026-11-30)
RUN_OVERHEAD_SECONDS = 40.0  # per run: start-up, compilation, samples, checkpoints and its share of evaluation
# per speed-phase worker: start-up, compilation, warm-up and floor; the reference speed phase (2 models × 9 modes ×
# 2 processes) took 600.7 s, 242.7 of them in its timed windows: 9.9 s per worker
SPEED_WORKER_SECONDS = 10.0

CALIBRATION = """import json, time
import numpy as np
a = np.random.default_rng(0).standard_normal((384, 384), dtype=np.float32)
a @ a
n, start = 0, time.perf_counter()
while time.perf_counter() - start < 1.0:
    a @ a
    n += 1
print(json.dumps(2 * 384 ** 3 * n / (time.perf_counter() - start) / 1e9))
"""


def calibrate() -> float | None:
    """This machine's single-thread float32 GFLOP/s (a one-second numpy run in a child), None if it fails."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", CALIBRATION], capture_output=True, text=True, env=env,
                              timeout=60, check=True)
        return float(json.loads(done.stdout))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


@dataclass(frozen=True)
class Estimate:
    seconds: float
    unknown: tuple[str, ...]  # planned runs with no reference cost (counted as nothing)


def reference_ms(model: str, framework: str) -> float | None:
    """ms per iteration of ``model`` trained by ``framework`` (a run-folder name) on the reference machine: measured,
    or scaled from ``SCALED_LIKE``'s ratio for the mode (the Keras WGANs); None when neither is known."""
    measured = MEASURED_MS.get(SAME_NETWORK.get(model, model), {})
    if framework in measured:
        return measured[framework]
    like = MEASURED_MS[SCALED_LIKE]
    if "pytorch" in measured and framework in like:
        return measured["pytorch"] * like[framework] / like["pytorch"]
    return None


def multiply_adds(spec: GANSpec) -> int:
    """Multiply-adds of one sample through the generator and the discriminator (dense and convolution layers)."""
    total = 0
    for network in ("generator", "discriminator"):
        shape, net = network_body(spec, network)
        for layer, out in zip(net.layers, network_shapes(net, shape)):
            if layer.kind == "dense":
                total += math.prod(shape) * layer.units
            elif layer.kind == "conv":  # every output pixel reads a kernel over every input channel
                total += layer.kernel ** 2 * shape[0] * math.prod(out)
            elif layer.kind == "conv_transpose":  # every input pixel writes a kernel into every output channel
                total += layer.kernel ** 2 * layer.units * math.prod(shape)
            shape = out
    return total


@lru_cache(maxsize=None)
def shape_factor(model: str, dataset: str) -> float:
    """How much more an iteration of ``model`` costs on ``dataset`` than on MNIST, where it was measured."""
    return multiply_adds(get_spec(model, dataset)) / multiply_adds(get_spec(model, DEFAULT_DATASET))


def run_seconds(run: PlannedRun, scale: float, dataset: str = DEFAULT_DATASET) -> float | None:
    """One training run's seconds on ``dataset``: iterations × the reference cost × its ``shape_factor`` × ``scale``
    + the fixed overhead (None for a model or execution mode without a reference cost)."""
    cost = reference_ms(run.model, run.framework)
    if cost is None:
        return None
    return run.steps * cost * shape_factor(run.model, dataset) * scale / 1000.0 + RUN_OVERHEAD_SECONDS


def estimate(options: SuiteOptions, scale: float = 1.0) -> Estimate:
    """The wall time of the suite's training (``jobs`` at a time) and its speed phase, at ``scale``."""
    runs = plan(options)
    seconds = [run_seconds(run, scale, options.dataset) for run in runs]
    total = sum(s for s in seconds if s) / max(1, min(options.jobs, len(runs) or 1))
    profile = options.profile
    speed_models = [m for m in profile.speed_models if m in options.models] if options.speed else []
    timed = [FRAMEWORKS[label].name for label in speed_frameworks(options) if not FRAMEWORKS[label].requires_gpu]
    for model in speed_models:
        iterations = profile.speed_windows * profile.speed_iterations
        factor = shape_factor(model, options.dataset)
        for cost in filter(None, (reference_ms(model, name) for name in timed)):
            total += PROCESSES * (SPEED_WORKER_SECONDS + iterations * cost * factor * scale / 1000.0)
    unknown = tuple(run.name for run, s in zip(runs, seconds) if s is None)
    return Estimate(total, unknown)


def time_left(left: list[tuple[PlannedRun, float]], done: list[tuple[PlannedRun, float]], jobs: int,
              dataset: str = DEFAULT_DATASET) -> float | None:
    """Seconds until the last of ``left`` (run, seconds it has trained so far) ends, ``jobs`` at a time; None before
    any run is ``done`` (run, wall seconds it took).

    A run is expected to take its reference cost times how much longer the ``done`` runs took than theirs (this
    machine's speed and its load, measured); a run with no reference cost, the mean of the done runs. The suite's
    runs differ by 30x in length (vanilla's minutes, WGAN's hours), so a mean over the done runs, which are the
    short ones first, would say minutes where hours are left."""
    if not done:
        return None
    known = [(run_seconds(run, 1.0, dataset), took) for run, took in done]
    expected_total = sum(expected for expected, _ in known if expected)
    ratio = sum(took for expected, took in known if expected) / expected_total if expected_total else None
    mean = sum(took for _, took in done) / len(done)
    remaining = []
    for run, trained in left:
        expected = run_seconds(run, 1.0, dataset)
        remaining.append(max(0.0, (expected * ratio if expected and ratio else mean) - trained))
    return max(sum(remaining) / max(1, jobs), max(remaining, default=0.0))


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


CALIBRATE_FROM_SECONDS = 300.0  # shorter suites are estimated at the reference speed (calibrating costs a second)


def plan_text(options: SuiteOptions, gflops: float | None) -> str:
    """What the suite will run and how long it should take here, with one-flag ways to run less."""
    scale = REFERENCE_GFLOPS / gflops if gflops else 1.0
    whole = estimate(options, scale=scale)
    measured = (f"calibrated: {gflops:.0f} GFLOP/s on one core here, {REFERENCE_GFLOPS:.0f} on the reference "
                "machine" if gflops else "not calibrated: the reference machine's speed")
    lines = [f"plan: {len(plan(options))} training runs ({', '.join(options.models)} × "
             f"{', '.join(options.frameworks)} × seeds {', '.join(map(str, options.seeds))}), {options.jobs} at a "
             f"time, {options.thread_count} thread(s) each; expected ≈ {minutes(whole.seconds)} on this machine "
             f"({measured}; CPU only, more when the machine is shared)"]
    fewer = []
    if len(options.seeds) > 1:
        one_seed = dataclasses.replace(options, seeds=options.seeds[:1])
        fewer.append(f"--seeds {options.seeds[0]} (≈ {minutes(estimate(one_seed, scale=scale).seconds)}, no paired "
                     "test)")
    if len(options.models) > 1:
        cheapest = min(options.models, key=lambda m: reference_ms(m, "pytorch") or float("inf"))
        one_model = dataclasses.replace(options, models=[cheapest])
        fewer.append(f"--models {cheapest} (≈ {minutes(estimate(one_model, scale=scale).seconds)})")
    if fewer:
        lines.append("fewer: " + " or ".join(fewer))
    if whole.unknown:
        lines.append(f"no reference cost for {', '.join(whole.unknown)}: not in the estimate")
    return "\n".join(lines)
