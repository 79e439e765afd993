"""The framework-neutral training driver: command line, loop, logging, timing, checkpoints and resume.

Each implementation supplies a ``GANTrainer`` (models, losses, optimisers and one compiled training
iteration in its own framework); everything around it is written once here, so both frameworks are
driven, timed and recorded by the same code.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import signal
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from benchmark import runs
from benchmark.data import DataError, StepInputs, TrainingStream, evaluation_noise, load_mnist, to_uint8
from benchmark.frameworks import FRAMEWORKS
from benchmark.spec import GANSpec, SpecError, get_spec

GRID_SIZE = 64
GENERATE_BATCH = 500
WARMUP_STEPS = 5  # the first steps of a process include graph compilation and allocator growth


class RunError(RuntimeError):
    """A run that cannot start or continue, explained in one line."""


class GANTrainer(Protocol):
    """What each framework implements; arrays cross the boundary as numpy."""

    checkpoint_suffix: str

    def train_step(self, inputs: StepInputs) -> Mapping[str, Any]:
        """One iteration: ``n_critic`` discriminator updates, then one generator update; returns the losses
        (``d_loss``, ``g_loss`` and any extra terms) as framework scalars, without forcing a device sync."""

    def generate(self, noise: np.ndarray) -> np.ndarray:
        """Generator in inference mode: float32 [N, noise_dim] -> float32 [N, 28, 28] in [-1, 1]."""

    def save_checkpoint(self, path: Path, meta: dict) -> None:
        """Write weights, optimiser and RNG state and ``meta`` atomically to ``path``."""

    def load_checkpoint(self, path: Path, expected: dict) -> dict:
        """Check the stored meta with ``check_checkpoint_meta(meta, expected)``, then restore; return the meta."""

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters: ``{"generator": ..., "discriminator": ...}``."""

    def synchronize(self) -> None:
        """Block until queued device work is done (for timing)."""

    def describe(self) -> dict:
        """Framework, versions, backend, device name, determinism level and precision settings."""


TrainerFactory = Callable[[GANSpec, argparse.Namespace], GANTrainer]


def train_parser(framework: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {framework}.train",
                                     description=f"Train one GAN of the common spec with {framework}.")
    parser.add_argument("--model", default="dcgan", help="preset (vanilla, dcgan, lsgan, wgan, wgan-gp) or "
                                                         "ARCHITECTURE+OBJECTIVE, e.g. mlp+wasserstein_gp")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="run folder; an existing one with a checkpoint is resumed")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, help="training length in epochs (default: the spec's)")
    length.add_argument("--steps", type=int, help="training length in generator iterations")
    parser.add_argument("--batch-size", type=int, help="override the spec's batch size")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--data-dir", help="MNIST folder (default: $MNIST_DIR, else the user cache)")
    parser.add_argument("--num-samples", type=int, default=10_000, help="images in samples.npz after training")
    parser.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower on GPU)")
    parser.add_argument("--log-every", type=int, default=50, help="iterations between metric lines")
    parser.add_argument("--checkpoint-every", type=int, default=500, help="iterations between checkpoints")
    parser.add_argument("--grid-every", type=int, help="iterations between sample grids (default: 10 per run)")
    parser.add_argument("--curve-every", type=int,
                        help="iterations between evaluation sample sets (default: 10 per run; 0: none)")
    parser.add_argument("--curve-samples", type=int, default=2_000, help="images per evaluation sample set")
    entries = [f for f in FRAMEWORKS.values() if f.module == f"{framework}.train"]
    parser.add_argument("--mode", help="execution mode (default: the framework's own): " + "; ".join(
        f"{f.mode}{f' on {f.backend}' if f.backend else ''}{' (default)' if f.default else ''}" for f in entries))
    parser.add_argument("--threads", type=int, default=_env_threads(),
                        help="CPU threads of every thread pool (default: $OMP_NUM_THREADS, else the framework's)")
    return parser


def _env_threads() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def resolve_spec(args: argparse.Namespace) -> GANSpec:
    spec = get_spec(args.model)
    if args.batch_size:
        spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=args.batch_size))
    return spec


def check_checkpoint_meta(meta: dict, expected: dict) -> None:
    """Refuse a checkpoint written for another framework, model, seed or spec."""
    for key in ("framework", "model", "seed"):
        if meta.get(key) != expected.get(key):
            raise RunError(f"checkpoint was written with {key} {meta.get(key)!r}, this run has "
                           f"{expected.get(key)!r}; use another --out folder or delete the old run")
    if json.dumps(meta.get("spec"), sort_keys=True) != json.dumps(expected.get("spec"), sort_keys=True):
        raise RunError(f"checkpoint was written for a different spec of {expected.get('model')!r} "
                       f"(e.g. another batch size); use another --out folder or delete the old run")


class Stopwatch:
    """Training seconds only: paused (after a device sync) around logging to disk, grids and checkpoints."""

    def __init__(self, synchronize: Callable[[], None], offset: float = 0.0):
        self.synchronize, self.total, self._since = synchronize, offset, None

    def start(self) -> None:
        self._since = time.perf_counter()

    def stop(self) -> float:
        self.synchronize()
        self.total += time.perf_counter() - self._since
        self._since = None
        return self.total


class StopRequest:
    """Turns SIGINT / SIGTERM into a flag the loop checks after each iteration, so it can checkpoint;
    the previous handlers come back on ``restore()``."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signal: int | None = None
        self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def _handle(self, signum, frame) -> None:
        self.signal = signum

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Progress:
    """A tqdm bar on a terminal, plain log lines otherwise."""

    def __init__(self, total: int, start: int):
        self.bar = None
        if sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, initial=start, unit="it", dynamic_ncols=True)

    def update(self, step: int, total: int, losses: dict, images_per_second: float) -> None:
        text = " ".join(f"{k} {v:.4f}" for k, v in losses.items())
        if self.bar:
            self.bar.n = step
            self.bar.set_postfix_str(f"{text} {images_per_second:.0f} img/s")
        else:
            print(f"step {step}/{total} {text} {images_per_second:.0f} img/s", flush=True)

    def close(self) -> None:
        if self.bar:
            self.bar.close()


def _interval(value: int | None, total: int) -> int:
    return max(1, total // 10) if value is None else value


def _due(step: int, every: int, total: int) -> bool:
    return step == total or (every > 0 and step % every == 0)


def generate_uint8(trainer: GANTrainer, noise: np.ndarray) -> np.ndarray:
    return np.concatenate([to_uint8(trainer.generate(noise[i:i + GENERATE_BATCH]))
                           for i in range(0, len(noise), GENERATE_BATCH)])


def run_training(args: argparse.Namespace, make_trainer: TrainerFactory) -> int:
    """Train as ``args`` say, resuming from ``args.out`` when it holds a checkpoint; return the exit code."""
    process_start = time.perf_counter()
    spec = resolve_spec(args)
    run_dir = Path(args.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    images, _ = load_mnist("train", args.data_dir)
    stream = TrainingStream(images, spec.training.batch_size, spec.training.noise_dim, args.seed,
                            spec.objective.n_critic, spec.training.noise)
    total = args.steps or (args.epochs or spec.training.epochs) * stream.steps_per_epoch
    trainer = make_trainer(spec, args)
    framework = trainer.describe()
    identity = {"framework": framework["framework"], "model": spec.name, "seed": args.seed,
                "spec": dataclasses.asdict(spec)}
    checkpoint = run_dir / runs.CHECKPOINTS / f"last{trainer.checkpoint_suffix}"
    metrics = runs.MetricsLog(run_dir / runs.METRICS)
    start, trained_seconds = 0, 0.0
    if checkpoint.exists():
        meta = trainer.load_checkpoint(checkpoint, identity)
        start, trained_seconds = meta["step"], meta["elapsed"]
        metrics.truncate_after(start)
    elif metrics.path.exists():
        metrics.path.unlink()
    config = {
        **identity, "backend": framework.get("backend"), "steps": total, "epochs": total / stream.steps_per_epoch,
        "steps_per_epoch": stream.steps_per_epoch, "batch_size": spec.training.batch_size,
        "num_samples": args.num_samples, "environment": framework, "parameters": trainer.parameter_counts(),
        "git_commit": runs.git_commit(), "python": platform.python_version(), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "command": " ".join(sys.argv), "resumed_from_step": start}
    runs.write_json(run_dir / runs.CONFIG, config)
    setup_seconds = time.perf_counter() - process_start

    meta = {**identity}
    grid_noise = evaluation_noise(GRID_SIZE, spec.training.noise_dim, spec.training.noise)
    curve_noise = evaluation_noise(args.curve_samples, spec.training.noise_dim, spec.training.noise)
    grid_every, curve_every = _interval(args.grid_every, total), _interval(args.curve_every, total)
    images_per_step = spec.training.batch_size * spec.objective.n_critic
    stop, progress = StopRequest(), Progress(total, start)
    clock, warmup_seconds = Stopwatch(trainer.synchronize, trained_seconds), None
    status, losses = runs.COMPLETED, {}
    step = start
    clock.start()
    try:
        while step < total:
            raw = trainer.train_step(stream.step(step))
            step += 1
            if step - start == WARMUP_STEPS:
                warmup_seconds = clock.stop() - trained_seconds
                clock.start()
            if _due(step, args.log_every, total) or stop.signal:
                losses = {name: float(value) for name, value in raw.items()}  # device sync point
                if not all(math.isfinite(v) for v in losses.values()):
                    status = runs.DIVERGED
                    break
                elapsed = clock.stop()
                metrics.append({"step": step, "epoch": stream.epoch_of(step - 1), "elapsed": elapsed, **losses})
                rate = (step - start) * images_per_step / max(elapsed - trained_seconds, 1e-9)
                progress.update(step, total, losses, rate)
                clock.start()
            if _due(step, grid_every, total) or _due(step, curve_every, total) or _due(step, args.checkpoint_every, total) \
                    or stop.signal:
                elapsed = clock.stop()
                if _due(step, grid_every, total):
                    runs.save_png(run_dir / runs.GRIDS / runs.step_name(step, ".png"),
                                  runs.image_grid(generate_uint8(trainer, grid_noise)))
                if curve_every and _due(step, curve_every, total):
                    runs.write_npz(run_dir / runs.EVAL_SAMPLES / runs.step_name(step, ".npz"),
                                   images=generate_uint8(trainer, curve_noise), step=step, elapsed=elapsed)
                if _due(step, args.checkpoint_every, total) or stop.signal:
                    trainer.save_checkpoint(checkpoint, {**meta, "step": step, "elapsed": elapsed})
                clock.start()
            if stop.signal:
                status = runs.INTERRUPTED
                break
        elapsed = clock.stop()
    finally:
        progress.close()
        stop.restore()

    if trainer.describe() != framework:  # PyTorch's compile time is known after the first iteration
        runs.write_json(run_dir / runs.CONFIG, {**config, "environment": trainer.describe()})
    segment_steps = step - start
    steady_steps = segment_steps - WARMUP_STEPS
    steady_seconds = elapsed - trained_seconds - (warmup_seconds or 0.0)
    seconds_per_step = steady_seconds / steady_steps if warmup_seconds is not None and steady_steps > 0 else None
    runs.write_json(run_dir / runs.TIMING, {
        "setup_seconds": setup_seconds, "warmup_steps": WARMUP_STEPS, "warmup_seconds": warmup_seconds,
        "steady_steps": max(steady_steps, 0), "steady_seconds_per_step": seconds_per_step,
        "images_per_second": images_per_step / seconds_per_step if seconds_per_step else None,
        "images_per_step": images_per_step, "train_seconds": elapsed, "segment_train_seconds": elapsed - trained_seconds,
        "total_seconds": time.perf_counter() - process_start, "resumed_from_step": start,
        "note": "training seconds exclude grids, sample sets and checkpoints; images = real images consumed"})
    if status == runs.COMPLETED:
        noise = evaluation_noise(args.num_samples, spec.training.noise_dim, spec.training.noise)
        runs.write_npz(run_dir / runs.SAMPLES, images=generate_uint8(trainer, noise))
    result = {"status": status, "exit_code": runs.EXIT_CODES[status], "step": step, "steps": total,
              "train_seconds": elapsed}
    if status == runs.DIVERGED:
        result["losses"] = {name: repr(value) for name, value in losses.items()}
    if status == runs.INTERRUPTED:
        result["signal"] = signal.Signals(stop.signal).name
    runs.write_json(run_dir / runs.RESULT, result)
    print(f"{status}: {run_dir} at step {step}/{total}", file=sys.stderr)
    return runs.EXIT_CODES[status]


def main(argv: list[str] | None, framework: str, make_trainer: TrainerFactory,
         parser: argparse.ArgumentParser | None = None) -> int:
    """Parse, train, and turn expected errors into one line on stderr (exit 2) instead of a traceback."""
    args = (parser or train_parser(framework)).parse_args(argv)
    try:
        return run_training(args, make_trainer)
    except (DataError, SpecError, RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except Exception:
        runs.write_json(Path(args.out) / runs.RESULT, {"status": runs.FAILED, "exit_code": 1,
                                                       "error": traceback.format_exc(limit=5)})
        raise
