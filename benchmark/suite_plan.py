"""What a suite runs: its options, the planned (model, framework, seed) runs, and each child process's command
line and environment (training, evaluation, the reference rows)."""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmark.datasets import DEFAULT_DATASET
from benchmark.eval_format import REFERENCES_DIR
from benchmark.frameworks import FRAMEWORKS, Framework, FrameworkError, by_name, get_framework
from benchmark.profiles import Profile, every
from benchmark.spec import get_spec
from benchmark.threads import THREAD_VARIABLES, default_threads, thread_env

CHECKPOINT_MIN_EVERY = 100  # iterations; an interrupted run also checkpoints when it stops
REPO_ROOT = Path(__file__).resolve().parent.parent

EVALUATE_MODULE = "benchmark.evaluate"
REFERENCES_MODULE = "benchmark.references"
SPEED_MODULE = "benchmark.speed"


class SuiteError(ValueError):
    """A bad suite argument (framework name, existing output folder, ...), explained in one line."""


def parse_frameworks(text: str, keras_backend: str = "tensorflow") -> list[str]:
    """``"pytorch,keras,pytorch-compile"`` -> ``["pytorch", "keras-tensorflow", "pytorch-compile"]``: the
    registry's run-folder names (``benchmark.frameworks``); unknown names raise with the valid ones."""
    names = []
    for part in (part.strip() for part in text.split(",") if part.strip()):
        try:
            name = get_framework(part, keras_backend).name
        except FrameworkError as error:
            raise SuiteError(str(error)) from None
        if name not in names:
            names.append(name)
    if not names:
        raise SuiteError("no framework given")
    return names


@dataclass(frozen=True)
class PlannedRun:
    model: str
    framework: str  # a registry entry's run-folder name (``benchmark.frameworks``)
    seed: int
    steps: int

    @property
    def name(self) -> str:
        return f"{self.model}-{self.framework}-seed{self.seed}"

    @property
    def entry(self) -> Framework:
        return by_name(self.framework)

    @property
    def module(self) -> str:
        return self.entry.module

    @property
    def backend(self) -> str | None:
        return self.entry.backend


@dataclass
class SuiteOptions:
    out: Path
    profile: Profile
    models: list[str]
    frameworks: list[str]
    seeds: list[int]
    device: str = "auto"
    jobs: int = 1
    resume: bool = False
    data_dir: str | None = None
    deterministic: bool = False
    inception: bool | None = None  # None: the profile's choice
    python: str = sys.executable  # the evaluation's and references' (training: the registry's, ``Framework.python``)
    executor: str = "local"  # benchmark.executors.EXECUTORS
    ray_address: str | None = None  # None: a Ray instance of the suite's own
    threads: int | None = None  # CPU threads of every child's thread pools; None: cores // jobs
    speed: bool = True  # run the profile's speed phase after training and evaluation
    dataset: str = DEFAULT_DATASET  # every run's (``benchmark.datasets``)

    @property
    def thread_count(self) -> int:
        return self.threads or default_threads(self.jobs)


def plan(options: SuiteOptions) -> list[PlannedRun]:
    """Seeds outermost, frameworks innermost: an unfinished suite still holds complete framework pairs."""
    return [PlannedRun(model, framework, seed, options.profile.train_steps(get_spec(model, options.dataset)))
            for seed in options.seeds for model in options.models for framework in options.frameworks]


def train_command(run: PlannedRun, run_dir: Path, options: SuiteOptions) -> list[str]:
    profile = options.profile
    command = [run.entry.python, "-m", run.module, "--model", run.model, "--seed", str(run.seed),
               "--out", str(run_dir), "--steps", str(run.steps), "--device", options.device,
               "--num-samples", str(profile.num_samples), "--curve-samples", str(profile.curve_samples),
               "--curve-every", str(every(run.steps, profile.curve_points)),
               "--grid-every", str(every(run.steps, profile.grid_points)),
               "--log-every", str(every(run.steps, profile.log_points)),
               "--checkpoint-every", str(max(every(run.steps, 10), min(run.steps, CHECKPOINT_MIN_EVERY))),
               "--threads", str(options.thread_count), "--dataset", options.dataset]
    if profile.batch_size:
        command += ["--batch-size", str(profile.batch_size)]
    if run.backend:
        command += ["--backend", run.backend]
    if not run.entry.default:
        command += ["--mode", run.entry.mode]
    if options.data_dir:
        command += ["--data-dir", options.data_dir]
    if options.deterministic:
        command.append("--deterministic")
    return command


def eval_command(run_dirs: list[Path], options: SuiteOptions, curve_only: bool = False) -> list[str]:
    command = [options.python, "-m", EVALUATE_MODULE, *map(str, run_dirs)]
    inception = options.profile.inception if options.inception is None else options.inception
    if not inception:
        command.append("--no-inception")
    if curve_only:
        command.append("--curve-only")
    if options.profile.reference_count:
        command += ["--reference-count", str(options.profile.reference_count)]
    command += ["--dataset", options.dataset]
    if options.data_dir:
        command += ["--data-dir", options.data_dir]
    return command


def references_command(options: SuiteOptions) -> list[str]:
    """The reference rows (real training images, uniform noise) at the runs' sample count, once per suite."""
    profile = options.profile
    command = [options.python, "-m", REFERENCES_MODULE, str(Path(options.out) / REFERENCES_DIR),
               "--num-samples", str(profile.num_samples)]
    inception = profile.inception if options.inception is None else options.inception
    if not inception:
        command.append("--no-inception")
    if profile.reference_count:
        command += ["--reference-count", str(profile.reference_count)]
    command += ["--dataset", options.dataset]
    if options.data_dir:
        command += ["--data-dir", options.data_dir]
    return command


def speed_frameworks(options: SuiteOptions) -> list[str]:
    """Every registered execution mode of the suite's framework families (the Keras ones on every backend): the
    speed phase compares each framework's default with its fastest path."""
    families = {by_name(name).family for name in options.frameworks}
    return [label for label, entry in FRAMEWORKS.items() if entry.family in families]


def speed_command(options: SuiteOptions, out: Path) -> list[str] | None:
    """The speed phase (``benchmark.speed``) of the profile's speed models that the suite trains, with the runs'
    thread count and device; None when there is nothing to time."""
    profile = options.profile
    models = [m for m in profile.speed_models if m in options.models]
    if not (options.speed and models):
        return None
    command = [options.python, "-m", SPEED_MODULE, "--out", str(out), "--models", ",".join(models),
               "--frameworks", ",".join(speed_frameworks(options)), "--threads", str(options.thread_count),
               "--windows", str(profile.speed_windows), "--iterations", str(profile.speed_iterations),
               "--device", options.device, "--dataset", options.dataset]
    if profile.speed_batch_sizes:
        command += ["--batch-sizes", ",".join(map(str, profile.speed_batch_sizes))]
    return command


def child_env(run: PlannedRun | None, options: SuiteOptions) -> dict[str, str]:
    """The suite's environment for a child. A training child pins its own thread count (``--threads``,
    ``benchmark.threads.pin``), so its thread variables are left out; every other child (evaluation, the reference
    rows, the speed phase's parent) gets the suite's count in them: an unset count is every core, and PyTorch's
    OpenMP threads spin-wait when another process holds one of them (PARITY-NOTES §9)."""
    env = {key: value for key, value in os.environ.items() if key not in THREAD_VARIABLES}
    if run is None:
        env.update(thread_env(options.thread_count, env))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    if run is not None and run.backend:
        env["KERAS_BACKEND"] = run.backend
    return env
