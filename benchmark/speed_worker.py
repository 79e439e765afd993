"""The speed phase's worker: what runs inside each timed process (``python -m benchmark.speed --worker JOB``).

It builds the trainer, compiles and warms up, measures its floor, says ``ready``, then answers one JSON line per
``window`` request on stdin/stdout until ``quit``; the parent side (scheduling, statistics, output) is
``benchmark.speed``.
"""
from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import numpy as np

from benchmark.data import StepInputs, TrainingStream
from benchmark.datasets import DEFAULT_DATASET
from benchmark.frameworks import Framework, get_framework, implementation
from benchmark.run_config import RunConfig
from benchmark.spec import GANSpec, get_spec
from benchmark import threads
from benchmark.training import run_steps

SYNTHETIC_STEPS = 4  # iterations per epoch of the synthetic training set
FLOOR_CALLS = 200
MAX_ITERATIONS = 10**9  # the windows' loop ends on ``quit``, long before
CPU_NOTE = "CPU: no device profiler; the iteration's compute runs on the host, so only the launch floor applies"


@dataclass(frozen=True)
class Job:
    """What one worker times: a model at a batch size in one framework mode."""

    model: str
    framework: str  # a registry label
    batch_size: int
    threads: int
    device: str = "auto"
    warmup: int = 5
    seed: int = 0
    dataset: str = DEFAULT_DATASET  # the image shape of the spec and of the synthetic inputs

    @property
    def key(self) -> str:
        return f"{self.model}-b{self.batch_size}-{self.framework}"


def synthetic_stream(spec: GANSpec, seed: int) -> TrainingStream:
    """Training inputs of the spec's shapes over random images (speed does not depend on the digits) and, for a
    conditional spec, random labels, fed to the trainer as in training (``trainer.feed``): staged on the device
    where the implementation stages them."""
    k, b = spec.objective.n_critic, spec.training.batch_size
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (SYNTHETIC_STEPS * k * b, *spec.architecture.sample_shape), dtype=np.uint8)
    classes = spec.conditioning.num_classes if spec.conditional else None
    labels = rng.integers(0, classes, len(images)) if classes else None
    return TrainingStream(images, b, spec.training.noise_dim, seed, k, spec.training.noise, labels, classes)


def _torch_floor(entry: Framework, trainer) -> tuple[Callable[[], None], Callable[[], None]]:
    import torch

    compile_mode = implementation(entry.family, "runtime").EXECUTIONS[entry.mode].compile
    x = torch.zeros(1, device=trainer.device)
    fn = (lambda t: t + 1) if compile_mode is None else torch.compile(lambda t: t + 1, mode=compile_mode)
    return (lambda: fn(x)), trainer.synchronize


def _keras_floor(entry: Framework, trainer) -> tuple[Callable[[], None], Callable[[], None]]:
    import keras
    from keras import ops

    backend_ops = implementation(entry.family, "backend_ops")
    with keras.device(trainer.device):
        x = ops.zeros((1,))
    fn = backend_ops.compile_function(lambda t: t + 1, trainer.jit_compile)
    last: list = []

    def call() -> None:
        with keras.device(trainer.device):
            last[:] = [fn(x)]
    return call, lambda: backend_ops.block_until_ready(last)


def _torch_device_ms(entry: Framework, trainer, inputs: StepInputs) -> tuple[float | None, str | None]:
    """GPU time of one iteration: the kernels' self time from ``torch.profiler``."""
    if trainer.device.type != "cuda":
        return None, CPU_NOTE
    from torch.profiler import ProfilerActivity, profile

    trainer.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        trainer.train_step(inputs)
        trainer.synchronize()
    micros = sum(getattr(e, "self_device_time_total", 0.0) for e in prof.key_averages())
    return micros / 1000.0, None


def _keras_device_ms(entry: Framework, trainer, inputs: StepInputs) -> tuple[float | None, str | None]:
    if trainer.device != "gpu":
        return None, CPU_NOTE
    return None, "not measured for Keras: the TensorFlow and JAX profilers write traces this module does not parse"


FLOORS = {"pytorch": _torch_floor, "keras": _keras_floor}
DEVICE_TIMES = {"pytorch": _torch_device_ms, "keras": _keras_device_ms}


def _time_calls(call: Callable[[], None], sync: Callable[[], None], count: int) -> float:
    """ms per call of ``count`` calls, synchronised once at the end (after one untimed call that compiles)."""
    call()
    sync()
    start = time.perf_counter()
    for _ in range(count):
        call()
    sync()
    return (time.perf_counter() - start) * 1000.0 / count


def worker_main(job: Job) -> int:
    """The worker: set up, then answer requests until ``quit`` or the end of stdin."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # the frameworks' own prints go to the log, never into the protocol
    threads.pin(job.threads)  # N threads on N cores, before any framework starts its pools
    entry = get_framework(job.framework)
    spec = get_spec(job.model, job.dataset)
    spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=job.batch_size))
    config = RunConfig(model=job.model, seed=job.seed, batch_size=job.batch_size, device=job.device, mode=entry.mode,
                       backend=entry.backend, threads=job.threads, dataset=job.dataset)
    trainer = importlib.import_module(entry.module).make_trainer(spec, config)
    feed = trainer.feed(synthetic_stream(spec, job.seed))
    start = time.perf_counter()
    run_steps(trainer, feed, 0, job.warmup, _go_on)
    trainer.synchronize()
    warmup_seconds = time.perf_counter() - start
    described = trainer.describe()
    compile_seconds = described.get("compile_seconds")
    if entry.family == "pytorch" and compile_seconds:
        warmup_seconds -= compile_seconds  # PyTorch compiles inside its first warm-up iteration
    call, sync = FLOORS[entry.family](entry, trainer)
    empty_step_ms = _time_calls(call, sync, FLOOR_CALLS)
    device_ms, device_note = DEVICE_TIMES[entry.family](entry, trainer, feed(job.warmup))
    _send(protocol, {"event": "ready", "compile_seconds": compile_seconds, "warmup_seconds": warmup_seconds,
                     "empty_step_ms": empty_step_ms, "device_ms": device_ms, "device_note": device_note,
                     "environment": described})
    run_steps(trainer, feed, job.warmup + 1, job.warmup + 1 + MAX_ITERATIONS, Windows(trainer, protocol, sys.stdin))
    return 0


class Windows:
    """The ``after_step`` of the one training loop that every window is timed in: after the loop's first iteration
    (untimed: it absorbs a ``Model.fit`` call's own set-up) it reads a request, counts that many iterations, sends
    their wall and CPU seconds, and reads the next; ``quit`` or the end of stdin stops the loop. One loop, not one
    per window, because a Keras user's ``fit`` runs for thousands of iterations: a ``fit`` per window of 10 would
    charge its set-up to 10 iterations (vanilla keras-tf-fit measured 65 ms/iteration that way, 2026-11-30)."""

    def __init__(self, trainer, protocol, requests: Iterator[str]):
        self.trainer, self.protocol, self.requests = trainer, protocol, requests
        self.left, self.cpu, self.start = 0, 0.0, 0.0

    def __call__(self, step: int, losses: Mapping[str, Any]) -> bool:
        if self.left:
            self.left -= 1
            if self.left:
                return True
            self.trainer.synchronize()
            _send(self.protocol, {"event": "window", "seconds": time.perf_counter() - self.start,
                                  "cpu_seconds": time.process_time() - self.cpu})
        request = json.loads(next(self.requests, '{"command": "quit"}'))
        if request["command"] == "quit":
            return False
        self.left, self.cpu, self.start = request["iterations"], time.process_time(), time.perf_counter()
        return True


def _go_on(step: int, losses: dict) -> bool:
    return True


def _send(stream, message: dict) -> None:
    stream.write(json.dumps(message) + "\n")
    stream.flush()
