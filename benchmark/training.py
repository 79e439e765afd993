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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

import numpy as np

from benchmark import arguments, checkpoints, datasets, exports, runs, threads
from benchmark.interrupts import StopRequest
from benchmark.data import (DataError, StepInputs, TrainingStream, class_grid_inputs, evaluation_labels,
                            evaluation_noise, to_uint8)
from benchmark.frameworks import FRAMEWORKS
from benchmark.locking import FolderLock, LockError
from benchmark.run_config import RunConfig
from benchmark.runs import RunError
from benchmark.spec import GANSpec, SpecError, get_spec, spec_dict

GRID_SIZE = 64
GENERATE_BATCH = 500
WARMUP_STEPS = 5  # the first steps of a process include graph compilation and allocator growth


class GANTrainer(Protocol):
    """What each framework implements; arrays cross the boundary as numpy."""

    checkpoint_suffix: str

    def feed(self, stream: TrainingStream) -> Callable[[int], StepInputs]:
        """``step -> train_step's inputs``, holding exactly ``stream.step(step)``'s values, with arrays of the
        framework's choice (numpy, or tensors already on the device)."""

    def train_step(self, inputs: StepInputs) -> Mapping[str, Any]:
        """One iteration: ``n_critic`` discriminator updates, then one generator update; returns the losses
        (``d_loss``, ``g_loss`` and any extra terms) as framework scalars, without forcing a device sync."""

    def generate(self, noise: np.ndarray, labels: np.ndarray | None = None, dtype: str = "float32") -> np.ndarray:
        """Generator in inference mode: float32 [N, noise_dim] (and int [N] labels for a conditional model, None
        otherwise) -> float32 [N, H, W] in [-1, 1] (the spec's ``image_shape``, one channel). ``dtype``: the images'
        type; the parity checks, whose specs compute in
        float64, ask for float64, so that rounding to float32 does not decide their comparison."""

    def export_generator(self, folder: Path) -> None:
        """Write the generator in the framework's own format(s) and its arrays in the neutral layout
        (``benchmark.exports``) into ``folder``."""

    def load_generator_layers(self, arrays: list[list[np.ndarray]]) -> None:
        """Set the generator from arrays in the neutral layout (another framework's export)."""

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


TrainerFactory = Callable[[GANSpec, RunConfig], GANTrainer]


def train_parser(framework: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {framework}.train",
                                     description=f"Train one GAN of the common spec with {framework}.")
    parser.add_argument("--model", default="dcgan", help="preset (vanilla, dcgan, lsgan, wgan, wgan-gp; conditional: "
                                                         "cgan, cdcgan) or ARCHITECTURE+OBJECTIVE[+CONDITIONING], "
                                                         "e.g. mlp+wasserstein_gp")
    parser.add_argument("--seed", type=arguments.seed, default=0)
    parser.add_argument("--out", required=True, help="run folder; an existing one with a checkpoint is resumed")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=arguments.positive_int, help="training length in epochs (default: the spec's)")
    length.add_argument("--steps", type=arguments.positive_int, help="training length in generator iterations")
    parser.add_argument("--batch-size", type=arguments.positive_int, help="override the spec's batch size")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    arguments.add_dataset_arguments(parser)
    parser.add_argument("--num-samples", type=arguments.positive_int, default=10_000, help="images in samples.npz after training")
    parser.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower on GPU)")
    parser.add_argument("--log-every", type=arguments.non_negative_int, default=50,
                        help="iterations between metric lines (0: at the end only)")
    parser.add_argument("--checkpoint-every", type=arguments.non_negative_int, default=500,
                        help="iterations between checkpoints (0: at the end and on a stop only)")
    parser.add_argument("--grid-every", type=arguments.non_negative_int, help="iterations between sample grids (default: 10 per run)")
    parser.add_argument("--curve-every", type=arguments.non_negative_int,
                        help="iterations between evaluation sample sets (default: 10 per run; 0: none)")
    parser.add_argument("--curve-samples", type=arguments.positive_int, default=2_000, help="images per evaluation sample set")
    entries = [f for f in FRAMEWORKS.values() if f.module == f"{framework}.train"]
    parser.add_argument("--mode", help="execution mode (default: the framework's own): " + "; ".join(
        f"{f.mode}{f' on {f.backend}' if f.backend else ''}{' (default)' if f.default else ''}" for f in entries))
    parser.add_argument("--threads", type=arguments.positive_int,
                        help="CPU threads of every thread pool, on as many cores of their own (CPU affinity: the "
                             "first N this process may use); default: the framework's own pools on every core")
    return parser


def resolve_spec(config: RunConfig) -> GANSpec:
    spec = get_spec(config.model, config.dataset)
    if config.batch_size is not None:
        spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=config.batch_size))
    return spec


def load_training_set(spec: GANSpec, data_dir: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The training images and labels of the data set the spec is built for, refused (one line) when the images'
    shape is not the spec's ``image_shape``."""
    dataset = datasets.get_dataset(spec.architecture.dataset)
    if tuple(spec.architecture.image_shape) != dataset.image_shape:
        raise DataError(f"{spec.name} generates images of shape {tuple(spec.architecture.image_shape)}, "
                        f"{dataset.title}'s are {dataset.image_shape}")
    return datasets.load_dataset("train", data_dir, dataset=dataset.name)


def load_training_images(spec: GANSpec, data_dir: str | None) -> np.ndarray:
    return load_training_set(spec, data_dir)[0]


def training_stream(spec: GANSpec, seed: int, data_dir: str | None) -> TrainingStream:
    """The run's inputs of (seed, step); with the labels and classes of a conditional spec, none otherwise."""
    images, labels = load_training_set(spec, data_dir)
    conditioning = spec.conditioning
    return TrainingStream(images, spec.training.batch_size, spec.training.noise_dim, seed, spec.objective.n_critic,
                          spec.training.noise, labels=labels if conditioning else None,
                          num_classes=conditioning.num_classes if conditioning else None)


@dataclass(frozen=True)
class EvaluationInputs:
    """The fixed generator inputs of a sample set: the evaluation noise and, for a conditional spec, the
    evaluation labels (balanced over the classes). Unpacks as ``(noise, labels)``."""

    noise: np.ndarray
    labels: np.ndarray | None

    @classmethod
    def of(cls, spec: GANSpec, n: int) -> EvaluationInputs:
        noise = evaluation_noise(n, spec.training.noise_dim, spec.training.noise)
        return cls(noise, evaluation_labels(n, spec.conditioning.num_classes) if spec.conditional else None)

    @classmethod
    def progress_grid(cls, spec: GANSpec) -> EvaluationInputs:
        """The progress grids' inputs: the first ``GRID_SIZE`` evaluation inputs, or for a conditional spec a class
        grid (row c requests class c; ``runs.GRID_COLUMNS`` columns, each one noise vector in every row)."""
        if not spec.conditional:
            return cls.of(spec, GRID_SIZE)
        return cls(*class_grid_inputs(runs.GRID_COLUMNS, spec.training.noise_dim, spec.conditioning.num_classes,
                                      spec.training.noise))

    def __iter__(self):
        return iter((self.noise, self.labels))

    def arrays(self) -> dict[str, np.ndarray]:
        """What a sample file stores besides the images: the requested labels, if any."""
        return {} if self.labels is None else {"labels": self.labels}


def check_checkpoint_meta(meta: dict, expected: dict, source: str = "checkpoint was written") -> None:
    """Refuse a checkpoint (or, with ``source``, a run folder) of another framework, model, seed or spec."""
    for key in ("framework", "model", "seed"):
        if meta.get(key) != expected.get(key):
            raise RunError(f"{source} with {key} {meta.get(key)!r}, this run has "
                           f"{expected.get(key)!r}; use another --out folder or delete the old run")
    if json.dumps(meta.get("spec"), sort_keys=True) != json.dumps(expected.get("spec"), sort_keys=True):
        raise RunError(f"{source} for a different spec of {expected.get('model')!r} "
                       f"(e.g. another batch size); use another --out folder or delete the old run")


def check_run_folder(run_dir: Path, identity: dict, backend: str | None) -> None:
    """Refuse a folder whose ``config.json`` belongs to another run: training the other framework there would
    silently replace its files (its checkpoint has another name, so nothing else would notice)."""
    path = run_dir / runs.CONFIG
    if not path.exists():
        return
    try:
        config = runs.read_json(path)
    except (OSError, ValueError) as error:
        raise RunError(f"{path}: unreadable ({error}); use another --out folder or delete the old run") from None
    check_checkpoint_meta(config, identity, source=f"{run_dir} holds a run")
    if config.get("backend") != backend:
        raise RunError(f"{run_dir} holds a run with Keras backend {config.get('backend')!r}, this run has "
                       f"{backend!r}; use another --out folder or delete the old run")


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


class NonFiniteImages(RunError):
    """The generator gave NaN or infinite pixels: the run has diverged."""


def generate_uint8(trainer: GANTrainer, noise: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
    """uint8 images of ``noise`` (and ``labels``, for a conditional model); ``NonFiniteImages`` rather than NaN
    cast to 0, which would pass for black images and be scored or plotted."""
    batches = []
    for i in range(0, len(noise), GENERATE_BATCH):
        batch = slice(i, i + GENERATE_BATCH)
        # An unconditional model is asked as before labels existed: ``generate(noise)``.
        images = trainer.generate(noise[batch]) if labels is None else trainer.generate(noise[batch], labels[batch])
        if not np.isfinite(images).all():
            raise NonFiniteImages("non-finite generated images")
        batches.append(to_uint8(images))
    return np.concatenate(batches)


def write_timing(path: Path, segment: dict, train_seconds: float, images_per_step: int) -> None:
    """Add this process's segment to ``timing.json`` (or update it: it is written at every checkpoint too, so a
    killed process leaves the segment up to its last checkpoint) and combine the segments: a resumed run's steady
    state is measured over all of its segments (each after its own warm-up), and re-running never erases a timing.
    A segment that ends after this one's start step (this one's own earlier writes, or a history the resume
    discarded, e.g. past a corrupt checkpoint) is dropped: no step is counted twice."""
    start = segment["resumed_from_step"]
    earlier = runs.read_json(path, {}).get("segments", [])
    segments = [s for s in earlier if s["resumed_from_step"] < start and s["end_step"] <= start] + [segment]
    steady_steps = sum(s["steady_steps"] for s in segments)
    per_step = sum(s["steady_seconds"] for s in segments) / steady_steps if steady_steps else None
    runs.write_json(path, {
        "setup_seconds": segments[0]["setup_seconds"], "warmup_steps": WARMUP_STEPS,
        "warmup_seconds": segments[0]["warmup_seconds"], "steady_steps": steady_steps,
        "steady_seconds_per_step": per_step, "images_per_second": images_per_step / per_step if per_step else None,
        "images_per_step": images_per_step, "train_seconds": train_seconds,
        "total_seconds": sum(s["total_seconds"] for s in segments), "segments": segments,
        "note": "training seconds exclude grids, sample sets and checkpoints; images = real images consumed; "
                "set-up and warm-up are the first segment's, the steady state is over every segment"})


def run_steps(trainer: GANTrainer, feed: Callable[[int], StepInputs], start: int, stop: int,
              after_step: Callable[[int, Mapping[str, Any]], bool]) -> None:
    """Iterations ``start`` .. ``stop - 1``, each followed by ``after_step(iterations done, losses)``, which returns
    False to stop early. A trainer whose framework drives the loop itself (Keras ``Model.fit``, its callbacks
    calling ``after_step``) supplies its own ``run_steps``; the others are stepped here, one ``train_step`` each."""
    own_loop = getattr(trainer, "run_steps", None)
    if own_loop is not None:
        own_loop(feed, start, stop, after_step)
        return
    for step in range(start, stop):
        if not after_step(step + 1, trainer.train_step(feed(step))):
            return


def run_complete(run_dir: Path, total: int) -> bool:
    """The folder holds this run finished at ``total`` steps, with its samples."""
    result = runs.read_json(run_dir / runs.RESULT, {})
    return result.get(runs.KEY_STATUS) == runs.COMPLETED and result.get(runs.KEY_STEP) == total \
        and (run_dir / runs.SAMPLES).exists()


@dataclass(frozen=True)
class Schedule:
    """Which steps log, draw a grid, write an evaluation sample set or a checkpoint; the last step does all."""

    total: int
    log_every: int
    grid_every: int
    curve_every: int
    checkpoint_every: int

    @classmethod
    def of(cls, config: RunConfig, total: int) -> Schedule:
        return cls(total, config.log_every, _interval(config.grid_every, total), _interval(config.curve_every, total),
                   config.checkpoint_every)

    def log(self, step: int) -> bool:
        return _due(step, self.log_every, self.total)

    def grid(self, step: int) -> bool:
        return _due(step, self.grid_every, self.total)

    def curve(self, step: int) -> bool:
        return self.curve_every > 0 and _due(step, self.curve_every, self.total)

    def checkpoint(self, step: int) -> bool:
        return _due(step, self.checkpoint_every, self.total)

    def snapshot(self, step: int) -> bool:
        """Anything to generate or save at ``step`` (``_due(step, 0, total)``: a curve at the last step only)."""
        return self.grid(step) or _due(step, self.curve_every, self.total) or self.checkpoint(step)


def resume(run_dir: Path, trainer: GANTrainer, config: RunConfig, identity: dict, total: int,
           metrics: runs.MetricsLog, checkpoint: Path) -> tuple[int, float]:
    """(first step, seconds already trained): from the folder's checkpoint when there is one (same configuration,
    same identity, not past ``total``; later metric lines dropped), else a fresh start with no old metrics."""
    for folder in (run_dir, run_dir / runs.CHECKPOINTS, run_dir / runs.GRIDS, run_dir / runs.EVAL_SAMPLES):
        runs.remove_temporaries(folder)
    if not checkpoints.exists(checkpoint):
        metrics.path.unlink(missing_ok=True)
        return 0, 0.0
    config.check_resume(RunConfig.read(run_dir / runs.RUN_CONFIG), run_dir)
    meta = checkpoints.load(checkpoint, lambda path: trainer.load_checkpoint(path, identity))
    start = meta["step"]
    if start > total:  # it cannot train back; "completed at step 20/10" would be reported as 10 iterations
        raise RunError(f"{run_dir} has trained {start} iterations, more than the {total} asked for; resume it "
                       f"with --steps {start} or more, or use another --out folder")
    metrics.truncate_after(start)
    return start, meta["elapsed"]


def save_snapshot(trainer: GANTrainer, run_dir: Path, schedule: Schedule, step: int, elapsed: float,
                  evaluation: dict[str, EvaluationInputs], checkpoint: Path | None, meta: dict) -> None:
    """The grid and evaluation sample set due at ``step``, then the checkpoint (``checkpoint``: None when none is
    due). Both image sets are generated first: nothing of a step whose images are not finite is saved
    (``NonFiniteImages``)."""
    grid = generate_uint8(trainer, *evaluation["grid"]) if schedule.grid(step) else None
    curve = generate_uint8(trainer, *evaluation["curve"]) if schedule.curve(step) else None
    if grid is not None:
        runs.save_png(run_dir / runs.GRIDS / runs.step_name(step, ".png"), runs.image_grid(grid))
    if curve is not None:
        runs.write_npz(run_dir / runs.EVAL_SAMPLES / runs.step_name(step, ".npz"), images=curve, step=step,
                       elapsed=elapsed, **evaluation["curve"].arrays())
    if checkpoint is not None:
        checkpoints.save(checkpoint, lambda path: trainer.save_checkpoint(path, {**meta, "step": step,
                                                                                 "elapsed": elapsed}))


def run_training(args: argparse.Namespace, make_trainer: TrainerFactory) -> int:
    """Train as ``args`` say, resuming from ``args.out`` when it holds a checkpoint; return the exit code."""
    process_start = time.perf_counter()
    config = RunConfig.from_args(args)
    spec = resolve_spec(config)
    run_dir = Path(args.out)
    stream = training_stream(spec, config.seed, args.data_dir)
    total = config.steps or (config.epochs or spec.training.epochs) * stream.steps_per_epoch

    # The model, and the folder it may continue
    trainer = make_trainer(spec, config)
    framework = trainer.describe()
    config = RunConfig.from_args(args, mode=framework.get("execution_mode"), backend=framework.get("backend"))
    identity = {"framework": framework["framework"], "model": spec.name, "seed": config.seed,
                "spec": spec_dict(spec)}
    check_run_folder(run_dir, identity, framework.get("backend"))
    if run_complete(run_dir, total):
        print(f"{run_dir} is complete ({total} steps): nothing to do; delete it or use another --out to train again",
              file=sys.stderr)
        return runs.EXIT_CODES[runs.COMPLETED]
    checkpoint = run_dir / runs.CHECKPOINTS / f"last{trainer.checkpoint_suffix}"
    metrics = runs.MetricsLog(run_dir / runs.METRICS)
    start, trained_seconds = resume(run_dir, trainer, config, identity, total, metrics, checkpoint)
    (run_dir / runs.RESULT).unlink(missing_ok=True)  # no verdict until this segment ends (a kill leaves none)
    run_record = {
        **identity, "dataset": spec.architecture.dataset, "backend": framework.get("backend"), "steps": total,
        "epochs": total / stream.steps_per_epoch,
        "steps_per_epoch": stream.steps_per_epoch, "batch_size": spec.training.batch_size,
        "num_samples": config.num_samples, "environment": framework, "parameters": trainer.parameter_counts(),
        "git_commit": runs.git_commit(), "python": platform.python_version(), "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "command": " ".join(sys.argv), "resumed_from_step": start}
    runs.write_json(run_dir / runs.RUN_CONFIG, config.to_dict())
    runs.write_json(run_dir / runs.CONFIG, run_record)
    feed = trainer.feed(stream)  # may stage the training set on the device: set-up time
    setup_seconds = time.perf_counter() - process_start

    # The loop: train, then log, generate and save what is due; the clock stops (after a sync) around all but training
    schedule = Schedule.of(config, total)
    evaluation = {"grid": EvaluationInputs.progress_grid(spec),
                  "curve": EvaluationInputs.of(spec, config.curve_samples)}
    images_per_step = spec.training.batch_size * spec.objective.n_critic
    stop, progress = StopRequest.install(), Progress(total, start)
    clock, warmup_seconds = Stopwatch(trainer.synchronize, trained_seconds), None

    def save_timing(elapsed: float) -> None:
        write_segment_timing(run_dir / runs.TIMING, start, step, setup_seconds, warmup_seconds, elapsed,
                             trained_seconds, process_start, images_per_step)
    # A Ctrl-C while the framework loaded: stop before the first step (nothing to checkpoint).
    status, losses, diverged_because = runs.INTERRUPTED if stop.signal else runs.COMPLETED, {}, None
    step = start

    def after_step(done: int, raw: Mapping[str, Any]) -> bool:
        """After iteration ``done``: warm-up, log, generate and save what is due, a stop request. Returns whether
        training goes on (called by ``run_steps``, or by ``Model.fit``'s callback)."""
        nonlocal step, status, losses, diverged_because, warmup_seconds
        step = done
        # Read once: a signal that lands while this step is saved waits for the next step, rather than ending the
        # run after a snapshot that did not checkpoint (the handler sets it at any moment).
        stopping = stop.signal is not None
        if step - start == WARMUP_STEPS:
            warmup_seconds = clock.stop() - trained_seconds
            clock.start()
        if schedule.log(step) or stopping:
            losses = {name: float(value) for name, value in raw.items()}  # device sync point
            if not all(math.isfinite(v) for v in losses.values()):
                status, diverged_because = runs.DIVERGED, "a non-finite loss"
                return False
            elapsed = clock.stop()
            metrics.append({"step": step, "epoch": stream.epoch_of(step - 1), "elapsed": elapsed, **losses})
            progress.update(step, total, losses, (step - start) * images_per_step / max(elapsed - trained_seconds, 1e-9))
            clock.start()
        if schedule.snapshot(step) or stopping:
            elapsed = clock.stop()
            due = schedule.checkpoint(step) or stopping
            try:
                save_snapshot(trainer, run_dir, schedule, step, elapsed, evaluation, checkpoint if due else None,
                              identity)
            except NonFiniteImages as error:
                status, diverged_because = runs.DIVERGED, str(error)
            else:
                if due:
                    save_timing(elapsed)
            clock.start()
        if stopping and status == runs.COMPLETED:
            status = runs.INTERRUPTED
        return status == runs.COMPLETED

    clock.start()
    try:
        if status == runs.COMPLETED:
            run_steps(trainer, feed, start, total, after_step)
        elapsed = clock.stop()
    finally:
        progress.close()

    # After the loop: the environment as it ended, timing, the samples, the verdict
    if trainer.describe() != framework:  # PyTorch's compile time is known after the first iteration
        runs.write_json(run_dir / runs.CONFIG, {**run_record, "environment": trainer.describe()})
    save_timing(elapsed)
    if status == runs.COMPLETED:
        samples = EvaluationInputs.of(spec, config.num_samples)
        try:
            runs.write_npz(run_dir / runs.SAMPLES, images=generate_uint8(trainer, *samples), **samples.arrays())
        except NonFiniteImages as error:
            status, diverged_because = runs.DIVERGED, str(error)
        else:
            trainer.export_generator(run_dir / exports.FOLDER)
    write_result(run_dir, status, step, total, elapsed, losses, diverged_because, stop.signal)
    print(f"{status}: {run_dir} at step {step}/{total}", file=sys.stderr)
    return runs.EXIT_CODES[status]


def write_segment_timing(path: Path, start: int, step: int, setup_seconds: float, warmup_seconds: float | None,
                         elapsed: float, trained_seconds: float, process_start: float, images_per_step: int) -> None:
    """This segment's timing (``write_timing``): steady state after ``WARMUP_STEPS`` of the segment, when it got
    past them."""
    measured = warmup_seconds is not None and step - start > WARMUP_STEPS
    steady_steps = step - start - WARMUP_STEPS if measured else 0
    steady_seconds = elapsed - trained_seconds - warmup_seconds if measured else 0.0
    write_timing(path, {
        "resumed_from_step": start, "end_step": step, "setup_seconds": setup_seconds,
        "warmup_seconds": warmup_seconds, "steady_steps": steady_steps, "steady_seconds": steady_seconds,
        "steady_seconds_per_step": steady_seconds / steady_steps if steady_steps else None,
        "train_seconds": elapsed - trained_seconds, "total_seconds": time.perf_counter() - process_start},
        train_seconds=elapsed, images_per_step=images_per_step)


def write_result(run_dir: Path, status: str, step: int, total: int, elapsed: float, losses: dict,
                 diverged_because: str | None, stop_signal: int | None) -> None:
    result = {runs.KEY_STATUS: status, runs.KEY_EXIT_CODE: runs.EXIT_CODES[status], runs.KEY_STEP: step,
              runs.KEY_STEPS: total, "train_seconds": elapsed}
    if status == runs.DIVERGED:
        result["losses"] = {name: repr(value) for name, value in losses.items()}
        result[runs.KEY_REASON] = diverged_because
    if status == runs.INTERRUPTED:
        result[runs.KEY_SIGNAL] = signal.Signals(stop_signal).name
    runs.write_json(run_dir / runs.RESULT, result)


def main(argv: list[str] | None, framework: str, make_trainer: TrainerFactory,
         parser: argparse.ArgumentParser | None = None) -> int:
    """Parse, train, and turn expected errors into one line on stderr (exit 2) instead of a traceback."""
    args = (parser or train_parser(framework)).parse_args(argv)
    threads.pin(args.threads)  # before make_trainer starts the framework's thread pools
    stop = StopRequest.install()  # before the frameworks are imported (make_trainer); pytorch_impl.train earlier
    try:
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise RunError(f"--out {args.out}: exists and is not a folder")
        with FolderLock(args.out, "training"):
            return run_training(args, make_trainer)
    except (DataError, SpecError, RunError, LockError) as error:
        print(f"error: {error}", file=sys.stderr)
        return runs.EXIT_USAGE
    except Exception:
        runs.write_json(Path(args.out) / runs.RESULT, {
            runs.KEY_STATUS: runs.FAILED, runs.KEY_EXIT_CODE: runs.EXIT_FAILED,
            runs.KEY_ERROR: traceback.format_exc(limit=5)})
        raise
    finally:
        stop.restore()
