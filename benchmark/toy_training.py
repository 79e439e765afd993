"""The toy GAN's runner (core): every seed of one framework in one process, measured while it trains.

    python -m pytorch_impl.toy --seeds 0,1,2 --out OUT/pytorch            (tensorflow_impl.toy: plus --backend)

The image suite starts one process per run; importing Keras and TensorFlow takes seconds, more than a toy run
trains, so here one process per framework mode trains the seeds in turn, each from its own initial weights and
fresh optimisers (the trainer's ``restart``: Keras keeps its compiled step). For a seed both frameworks start from
the same weights (``benchmark.initial_weights``) and see the same target samples and noise (``ToyStream``), so
runs pair. Every ``--measure-every`` iterations, and before the first and after the last, the generator maps a
fixed set of inputs (the same for every seed and framework) and ``benchmark.toy_measures`` compares them with
fresh target samples; D(x) is read on a fixed grid. The timed seconds are ``train_step``'s alone (inputs are drawn
before, measures after, each synchronised).

Writes ``OUT/seed<S>.npz`` (steps, every measure, G's samples and D's logits at every measured step, seconds)
and ``OUT/run.json`` (the framework's description, the spec, the settings, per-seed status and timing).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmark import arguments, datasets, runs, threads, toy_measures
from benchmark.data import StepInputs, sample_noise
from benchmark.run_config import RunConfig
from benchmark.spec import TOY_SPECS, GANSpec, SpecError, get_spec

# Fixed seed of the measured generator inputs: the same for every seed and framework, so curves compare.
MEASURE_INPUT_SEED = 20_161_220
_STREAM_TARGET, _STREAM_NOISE, _STREAM_GP, _STREAM_REFERENCE, _STREAM_MEASURE = 11, 12, 13, 14, 15
RUN_FILE = "run.json"
COMPLETED, DIVERGED = runs.COMPLETED, runs.DIVERGED


def seed_file(seed: int) -> str:
    return f"seed{seed}.npz"


class ToyStream:
    """Seeded training inputs of a sampled data set: ``step(i)`` is a pure function of (seed, i), the same for
    every framework. Real points come from the target's sampler, as float32 [n_critic, B] (a 1-D point is a
    sample without a channel axis, as an image is [H, W]: the trainers add the axis)."""

    def __init__(self, target: datasets.Normal, spec: GANSpec, seed: int):
        self.target, self.seed = target, seed
        self.batch_size, self.noise_dim = spec.training.batch_size, spec.training.noise_dim
        self.n_critic, self.noise = spec.objective.n_critic, spec.training.noise

    def step(self, step: int) -> StepInputs:
        k, b = self.n_critic, self.batch_size
        real = self.target.sample(np.random.default_rng([self.seed, _STREAM_TARGET, step]), k * b)
        noise = sample_noise(np.random.default_rng([self.seed, _STREAM_NOISE, step]), (k + 1) * b, self.noise_dim,
                             self.noise)
        gp_weight = np.random.default_rng([self.seed, _STREAM_GP, step]).uniform(0.0, 1.0, size=(k, b))
        return StepInputs(real.reshape(k, b).astype(np.float32), noise[:k * b].reshape(k, b, -1), noise[k * b:],
                          gp_weight.astype(np.float32))


def measure_inputs(spec: GANSpec, n: int) -> np.ndarray:
    """The fixed generator inputs every measure uses, float32 [n, noise_dim]."""
    return sample_noise(np.random.default_rng([MEASURE_INPUT_SEED, _STREAM_MEASURE]), n, spec.training.noise_dim,
                        spec.training.noise)


def reference_samples(target: datasets.Normal, seed: int, step: int, n: int) -> np.ndarray:
    """Fresh target samples for the measure of (seed, step): never the training batches."""
    return target.sample(np.random.default_rng([seed, _STREAM_REFERENCE, step]), n)[:, 0]


def target_of(spec: GANSpec) -> datasets.Normal:
    dataset = datasets.get_dataset(spec.architecture.dataset)
    if dataset.sampler is None:
        raise SpecError(f"{spec.name} is built for {dataset.title}, which has files, not a sampler: "
                        f"the toy runner takes {', '.join(TOY_SPECS)}")
    return dataset.sampler


def toy_parser(framework: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {framework}.toy",
                                     description=f"Train the toy GAN with {framework}, many seeds in one process.")
    parser.add_argument("--model", default="toy", choices=tuple(TOY_SPECS))
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, trained in turn")
    parser.add_argument("--out", required=True, help="folder for seed<S>.npz and run.json")
    parser.add_argument("--steps", type=arguments.positive_int, help="iterations per seed (default: the spec's)")
    parser.add_argument("--batch-size", type=arguments.positive_int, help="override the spec's batch size")
    parser.add_argument("--measure-every", type=arguments.positive_int, default=100,
                        help="iterations between measures (also measured before the first and after the last)")
    parser.add_argument("--samples", type=arguments.positive_int, default=2_000,
                        help="generator samples (and fresh target samples) per measure")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    parser.add_argument("--mode", help="execution mode (default: the framework's own)")
    parser.add_argument("--threads", type=arguments.positive_int, help="CPU threads (as the train CLIs)")
    return parser


def resolve(args: argparse.Namespace) -> tuple[GANSpec, int, list[int]]:
    """The spec (with ``--batch-size``), the iterations per seed and the seeds."""
    spec = get_spec(args.model)
    if args.batch_size is not None:
        spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=args.batch_size))
    try:
        seeds = list(dict.fromkeys(arguments.seed(part) for part in args.seeds.split(",") if part.strip()))
    except argparse.ArgumentTypeError as error:
        raise SpecError(f"--seeds {args.seeds!r}: {error}") from None
    if not seeds:
        raise SpecError("--seeds: empty")
    return spec, args.steps or spec.training.steps, seeds


def measured_steps(total: int, every: int) -> list[int]:
    """0, every, 2 every, ..., total: before training, on the interval, and at the end."""
    return sorted({0, total, *range(every, total, every)})


def train_seed(trainer: Any, spec: GANSpec, seed: int, total: int, every: int, samples: int) -> dict[str, Any]:
    """Train one seed for ``total`` iterations, measuring at ``measured_steps``; returns the arrays of its file."""
    target = target_of(spec)
    stream = ToyStream(target, spec, seed)
    inputs, x_axis = measure_inputs(spec, samples), toy_measures.grid(target)
    record: dict[str, list] = {name: [] for name in (*toy_measures.MEASURES, "generated", "logits")}
    steps, seconds, status, done = measured_steps(total, every), 0.0, COMPLETED, 0
    for step in steps:
        batch = [stream.step(i) for i in range(done, step)]  # drawn before the clock starts
        trainer.synchronize()
        start = time.perf_counter()
        for step_inputs in batch:
            trainer.train_step(step_inputs)
        trainer.synchronize()
        seconds += time.perf_counter() - start
        done = step
        generated = trainer.generate(inputs, dtype="float64")
        logits = trainer.discriminate(x_axis)
        values = toy_measures.measure(generated, reference_samples(target, seed, step, samples), target, logits)
        for name, value in values.items():
            record[name].append(value)
        record["generated"].append(np.asarray(generated, np.float32).reshape(len(inputs)))
        record["logits"].append(np.asarray(logits, np.float32))
        if not np.isfinite(values[toy_measures.W1]):
            status = DIVERGED
            break
    measured = steps[:len(record[toy_measures.W1])]
    return {"steps": np.asarray(measured), "grid": x_axis, "seconds": np.float64(seconds),
            "iterations": np.int64(done), "status": np.asarray(status),
            **{name: np.asarray(values) for name, values in record.items()}}


def run(args: argparse.Namespace, make_trainer: Callable[[GANSpec, RunConfig], Any]) -> int:
    """Train every seed of ``args`` with one trainer (restarted per seed); write the files; return the exit code."""
    spec, total, seeds = resolve(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    trainer = make_trainer(spec, RunConfig.from_args(args, model=spec.name, seed=seeds[0]))
    setup_seconds = time.perf_counter() - start
    results = {}
    for index, seed in enumerate(seeds):
        if index:
            trainer.restart(seed)
        arrays = train_seed(trainer, spec, seed, total, args.measure_every, args.samples)
        runs.write_npz(out / seed_file(seed), compressed=True, **arrays)
        results[str(seed)] = {"status": str(arrays["status"]), "iterations": int(arrays["iterations"]),
                              "train_seconds": float(arrays["seconds"]), "final_w1": float(arrays["w1"][-1])}
        print(f"seed {seed}: {results[str(seed)]['status']} at {results[str(seed)]['iterations']}/{total}, "
              f"W1 {results[str(seed)]['final_w1']:.4f}, {arrays['seconds']:.2f} s", file=sys.stderr, flush=True)
    runs.write_json(out / RUN_FILE, {
        "framework": trainer.describe(), "model": spec.name, "spec": json.loads(spec.to_json()), "steps": total,
        "batch_size": spec.training.batch_size, "measure_every": args.measure_every, "samples": args.samples,
        "seeds": seeds, "setup_seconds": setup_seconds, "total_seconds": time.perf_counter() - start,
        # CPU seconds of the whole process (every thread, imports included): on a shared machine the wall time
        # measures the sharing, this does not
        "process_cpu_seconds": time.process_time(), "results": results})
    return runs.EXIT_CODES[DIVERGED] if any(r["status"] == DIVERGED for r in results.values()) else runs.EXIT_OK


def main(argv: list[str] | None, framework: str, make_trainer: Callable[[GANSpec, RunConfig], Any],
         parser: argparse.ArgumentParser | None = None) -> int:
    """Parse, pin threads, train; expected errors are one line on stderr (exit 2)."""
    args = (parser or toy_parser(framework)).parse_args(argv)
    threads.pin(args.threads)
    try:
        return run(args, make_trainer)
    except (SpecError, runs.RunError) as error:
        print(f"error: {error}", file=sys.stderr)
        return runs.EXIT_USAGE
