"""Suite profiles as data: how long every run trains, how many seeds, how many samples are scored.

``python benchmark/run_all.py --profile NAME`` reads one of these; nothing about a profile lives anywhere else.

* ``smoke``: every model x framework, 6 iterations at batch 16 (WGAN and WGAN-GP: of 5 critic batches each; 6 is
  the fewest that time a steady state after the 5 warm-up steps, which the report's throughput needs), 1 seed, 500
  samples scored against 2,000 test images, two runs at a time with one thread each (CI runs it beside other tests:
  more threads than free cores make PyTorch's OpenMP threads spin-wait). It checks that the whole pipeline runs
  (every plot, grid, curve and table of the report); its numbers mean nothing.
* ``quick`` (what ``make bench`` runs without a GPU): the models that draw digits within 35 minutes on 2 CPU
  cores (vanilla, dcgan and the conditional cgan), 2 seeds (so the report's paired tests have two pairs), two runs
  at a time with one thread each
  (PyTorch's OpenMP threads spin-wait, so two threads per run on 2 shared cores would slow every run down:
  PARITY-NOTES §9), then the speed phase (vanilla and dcgan, every CPU execution mode, 2 worker processes of 3
  windows of 10 iterations each per mode, one thread on one core). Lengths are set model by model in generator
  iterations (``QUICK_REASONS`` says why each, for the report), from these measurements (PyTorch, one thread,
  2-core AMD EPYC shared with other jobs; MNIST-FID of 2,000 samples against uniform noise's 2,251 and real
  training digits' 5.2):

  - vanilla: 32 ms/iteration on a quiet core; 3,000 iterations (95 s) gave FID 303 (13 % of noise's), all 10
    digits covered, noisy but legible digits; 5,000 gave 240-340 over 2 seeds x 2 frameworks (≈ 1.6 min per run
    for Keras, 2.8 for PyTorch). It draws too few zeros (16-26 of 2,000), so a run may cover 9 digits by the
    report's 1 % rule; 10,000 iterations changed neither (15-30 zeros, FID 206-276).
  - dcgan: 0.27 s/iteration on a quiet core; one epoch (937 iterations) gave recognisable digits of 9 classes
    and 400 iterations did not (measured by others); clean digits at 1,000 here; 2,000 gave FID 35.9 (1.6 % of
    noise's), IS 7.9, all 10 digits covered. 1,500 gave FID 53-81 over 2 seeds x 2 frameworks, all 10 digits
    covered (4.3 min per run for Keras, 6.5 for PyTorch).
  - lsgan: the same network and cost; 937 iterations gave FID 1,109 (49 % of noise's: grey backgrounds), clean
    digits from about 1,600 and FID 73.8 at 2,000. Two seeds of it would add about 15 minutes (35 in all),
    so ``quick`` leaves it out and says how to run it (its 2,000 iterations stay here for ``--models lsgan``).
  - cgan (vanilla's MLP conditioned on the digit, ``spec.CONDITIONAL_PRESETS``): the report calls a conditional run
    digits only when the classifier reads the requested digit in at least 90 % of its samples. PyTorch seed 0 (500
    samples): 87 % at 3,000 iterations, 90.4 % at 4,200, 95.8 % at 5,000; 5,000 leaves a margin. At 5,000 iterations
    (2,000 samples, seeds 0 / 1, 2026-11-30, ``results/conditional/``): PyTorch 95.3 / 93.0 % (MNIST-FID 65.5 /
    83.1), Keras-TF 94.9 / 93.0 % (FID 94.5 / 69.7), worst digit 80-90 %. Its cost is vanilla's: ≈ 270 s of CPU per
    PyTorch run and ≈ 210 s per Keras-TF run (one thread; 10-18 min of wall time each on the 2-core AMD EPYC shared
    with other jobs, which took 85 % of its CPU), so about 7 more minutes of ``quick`` on 2 idle cores.
  - cdcgan: dcgan's cost per iteration and an unmeasured length to 90 % accuracy; left out with its command.
  - Keras (TensorFlow backend) with one thread runs at about PyTorch's speed (29 vs 29 ms vanilla, 275 vs
    270 ms dcgan), plus ≈ 10-15 s of compilation per run.

  Measured from a clean clone on an idle machine before cgan was added: 20.5 min in all (venv 1.3, training 16.3,
  evaluation and the reference rows under 1, speed phase 2.3); with cgan's two seeds about 28 (estimated from its
  CPU time above, not measured end to end on an idle machine). WGAN and WGAN-GP are left out: a
  generator iteration costs 5 critic batches (WGAN-GP also a double backward pass), and they need thousands of
  iterations to draw digits, hours on 2 cores; the report names them with the command that runs them.
  ``--models wgan`` with this profile trains one epoch (187 iterations), which the report marks under-trained.
* ``cpu-complete`` (the committed whole-mission report, ``results/cpu-complete/``): every preset in PyTorch and
  Keras-TF, 2 paired seeds, 10,000 scored samples, two runs at a time with one thread each, hours on 2 cores.
  Lengths in generator updates, model by model, from the measurements above and in PARITY-NOTES §11 (PyTorch, one
  thread on one core each): ``CPU_COMPLETE_REASONS`` says why each, and the report prints them beside the updates,
  the real images they consume and the training times. At the reference costs (``benchmark.estimate``): vanilla
  ≈ 7.5 min per PyTorch run, dcgan ≈ 14, lsgan ≈ 18, wgan-gp ≈ 70 (2.06 s/update), wgan ≈ 80 (1.22 s/update).

  Keras-TF runs about 1.3x faster than PyTorch on one core; the whole profile is ≈ 6 hours of both cores, meant to
  run in the background and be continued with ``--resume`` (``--out`` outside the checkout). The speed phase is
  part of it (every CPU mode of vanilla and dcgan, pinned one core per worker).
* ``toy`` (the first thing to try): the 1-D Gaussian GAN (``toy-1k``: the published toy compressed to 1,000
  iterations) in PyTorch, Keras-TF and Keras-JAX, 10 paired seeds, measured every 50 iterations on 2,000 generator
  samples (the GIF's frames); its own runner (``benchmark.toy_suite``: one process per framework trains every seed,
  since a Keras process takes seconds to start) and report. Measured (2-core AMD EPYC, one thread per process,
  2026-11-30): 134 CPU seconds in all (PyTorch 56, Keras-TF 47, Keras-JAX 31, imports and compilation included),
  about 80 s of wall time on 2 idle cores; batch 1,024 keeps an iteration compute-bound (≈ 4-6 ms of CPU on one
  core), so a smaller batch, not fewer processes, is what would shorten it.
* ``full``: 3 seeds, the spec's training length (20 epochs, Lucic et al. 2018), 10,000 scored samples and
  the Inception metrics when their weights are available, and a speed phase over every model with a batch
  sweep (64, 256, 1024). Meant for a GPU.

Lengths are given in iterations (for all models or per model), epochs (possibly fractional) or real images;
``train_steps`` turns them into the ``--steps`` of the training command. An iteration is one generator update
and consumes ``n_critic`` batches, so with a length in epochs or images the budget is equal in real images
(WGAN's epoch has a fifth of DCGAN's iterations) unless ``budget="generator_updates"``.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from benchmark.spec import GANSpec, steps_per_epoch


class ProfileError(ValueError):
    """An unknown profile name or budget; the message lists the valid ones."""


BUDGET_IMAGES, BUDGET_GENERATOR_UPDATES = "images", "generator_updates"
BUDGETS = (BUDGET_IMAGES, BUDGET_GENERATOR_UPDATES)
RUNNERS = ("suite", "toy")
FULL_COMMAND = "python benchmark/run_all.py --profile full --models {model}"


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    seeds: tuple[int, ...]
    num_samples: int  # images in samples.npz, all scored by benchmark.evaluate
    curve_samples: int  # images per eval_samples/step_*.npz (the MNIST-FID curves)
    curve_points: int  # evaluation sample sets per run
    grid_points: int  # sample grids per run (the frames of the progress GIF)
    log_points: int  # metric lines per run (the loss plots)
    steps: int | None = None  # iterations per run; else ``model_steps``, else ``images``, else ``epochs``
    model_steps: dict[str, int] = field(default_factory=dict)  # iterations per run, model by model
    length_reasons: dict[str, str] = field(default_factory=dict)  # model -> why ``model_steps`` gives it that length
    images: int | None = None  # real images per run (an iteration consumes batch_size x n_critic of them)
    epochs: float | None = None  # None with steps and images None: the spec's epochs
    budget: str = BUDGET_IMAGES  # what ``images``/``epochs`` hold equal across models (see ``train_steps``)
    batch_size: int | None = None  # None: the spec's
    inception: bool = False  # Inception-v3 metrics (they need the weights; on CPU they are slow)
    reference_count: int | None = None  # MNIST test images on the real side (None: all 10,000)
    models: tuple[str, ...] | None = None  # the models run by default (None: every preset)
    left_out: dict[str, str] = field(default_factory=dict)  # model -> why this profile does not run it
    jobs: int = 1  # training processes at a time
    threads: int | None = None  # CPU threads per training process (None: the frameworks' defaults)
    budget_note: str = ""
    speed_models: tuple[str, ...] = ()  # the suite's speed phase (benchmark.speed) times these; () : none
    speed_windows: int = 5  # timing windows per execution mode
    speed_iterations: int = 20  # iterations per window
    speed_batch_sizes: tuple[int, ...] = ()  # the batch sweep; (): the spec's batch size only
    runner: str = "suite"  # RUNNERS: the image suite (benchmark.suite) or the toy's (benchmark.toy_suite)
    frameworks: tuple[str, ...] = ("pytorch", "keras")  # the default of --frameworks

    def __post_init__(self):
        if self.budget not in BUDGETS:
            raise ProfileError(f"unknown budget {self.budget!r}; valid: {', '.join(BUDGETS)}")
        if self.runner not in RUNNERS:
            raise ProfileError(f"unknown runner {self.runner!r}; valid: {', '.join(RUNNERS)}")

    def train_steps(self, spec: GANSpec) -> int:
        """Generator iterations of one run of ``spec`` under this profile.

        A length in epochs or images is held equal across models in real images (``budget="images"``: an
        iteration of WGAN or WGAN-GP consumes ``n_critic`` = 5 batches, so they make 5x fewer generator
        updates) or in generator updates (``"generator_updates"``: every model makes as many updates as a
        model with one critic batch per iteration, so WGAN and WGAN-GP see 5x more images).
        """
        if self.steps is not None:
            return self.steps
        if spec.name in self.model_steps:
            return self.model_steps[spec.name]
        if spec.training.steps is not None:  # a sampled data set: no epochs
            return spec.training.steps
        if self.batch_size:
            spec = dataclasses.replace(spec, training=dataclasses.replace(spec.training, batch_size=self.batch_size))
        if self.budget == BUDGET_GENERATOR_UPDATES:  # count iterations as if each consumed one batch
            spec = dataclasses.replace(spec, objective=dataclasses.replace(spec.objective, n_critic=1))
        if self.images is not None:
            return max(1, math.ceil(self.images / (spec.training.batch_size * spec.objective.n_critic)))
        epochs = spec.training.epochs if self.epochs is None else self.epochs
        return max(1, math.ceil(epochs * steps_per_epoch(spec)))

    def length_text(self) -> str:
        if self.steps is not None:
            return f"{self.steps} iterations"
        if self.model_steps:
            return "iterations per model: " + ", ".join(f"{m} {s}" for m, s in self.model_steps.items())
        if self.images is not None:
            return f"{self.images} real images"
        return "the spec's epochs" if self.epochs is None else f"{self.epochs:g} epoch(s)"

    def budget_text(self) -> str:
        """How the training lengths compare across models, for the report and ``--help``."""
        if self.steps is not None:
            return ("equal in generator updates (one --steps for every model: WGAN and WGAN-GP consume 5x more "
                    "real images per update)")
        if self.model_steps:
            return "set model by model in generator updates (each chosen so that the model reaches digits)"
        if self.budget == BUDGET_IMAGES:
            return ("equal in real images: WGAN and WGAN-GP (5 critic batches per generator update) make 5x fewer "
                    "generator updates; `--budget generator_updates` gives every model the same number of updates")
        return ("equal in generator updates: WGAN and WGAN-GP consume 5x more real images; `--budget images` gives "
                "every model the same number of images")


PROFILES: dict[str, Profile] = {}


def register(profile: Profile) -> Profile:
    if profile.name in PROFILES:
        raise ProfileError(f"profile {profile.name!r} is registered twice")
    PROFILES[profile.name] = profile
    return profile


register(Profile(
    name="smoke", description="pipeline check: every model x framework, a few iterations, 1 seed",
    seeds=(0,), steps=6, batch_size=16, num_samples=500, curve_samples=200, curve_points=2, grid_points=4,
    log_points=8, reference_count=2_000, jobs=2, threads=1, budget_note="under 5 minutes on 2 CPU cores"))
QUICK_LEFT_OUT = ("a WGAN needs thousands of generator updates of 5 critic batches each to draw digits: hours on 2 "
                  "CPU cores; run it with `" + FULL_COMMAND + "`")
QUICK_LSGAN = ("the same network and cost per iteration as dcgan, and its digits need about 2,000 iterations: "
               "two seeds of it would add about 15 minutes, taking `make bench` to 35 minutes on 2 cores; run it "
               "with `python benchmark/run_all.py --profile quick --models lsgan --out results/quick-lsgan` (2,000 "
               "iterations, about 20 minutes) or `" + FULL_COMMAND.format(model="lsgan") + "`")
QUICK_CDCGAN = ("the conditioned dcgan network costs what dcgan does per iteration, and how many iterations it needs "
                "to draw the requested digit in 90 % of its samples is not measured: with cgan already in, two seeds "
                "of it would take `make bench` past 35 minutes on 2 cores; run it with `python benchmark/run_all.py "
                "--profile quick --models cdcgan --out results/quick-cdcgan` (one epoch, 937 iterations; check its "
                "requested-digit accuracy) or `" + FULL_COMMAND.format(model="cdcgan") + "`")
QUICK_REASONS = {  # the report's classifier FID of 2,000 samples (uniform noise 2,251), measured as said above
    "vanilla": "3,000 gave classifier FID 303 and all 10 digits; 5,000 gave 240-340 over 2 seeds x 2 frameworks; "
               "10,000 changed neither the FID nor its lack of zeros",
    "dcgan": "400 did not draw digits, one epoch (937) drew 9 classes; 1,500 gave classifier FID 53-81 over 2 seeds "
             "x 2 frameworks, all 10 digits",
    "lsgan": "937 left grey backgrounds (classifier FID 1,109); clean digits from about 1,600, FID 73.8 at 2,000",
    "cgan": "the requested digit read in 87 % of samples at 3,000, 90.4 % at 4,200 and 95.8 % at 5,000 (the "
            "report's bar: 90 %)",
}
CPU_COMPLETE_REASONS = {  # the WGANs': an independent digit classifier's FID (PARITY-NOTES §11), not the report's
    "vanilla": "5,000 already draw legible digits and 10,000 changed neither the FID nor the lack of zeros: the "
               "longer run is cheap and rules out \"too short\" as the reason",
    "dcgan": "classifier FID 35.9 and all 10 digits at 2,000, 53-81 at 1,500",
    "lsgan": "clean digits from about 1,600, classifier FID 73.8 at 2,000; 500 more for margin",
    "wgan-gp": "an independent classifier's FID fell 536 → 124 from 200 to 800 updates (uniform noise ≈ 1,036); "
               "clean digits by 1,000-1,500",
    "wgan": "weight clipping learns slowly: an independent classifier's FID fell 639 → 244 from 200 to 1,200 "
            "updates, still ≈ 10 % lower every 200, so it gets the most updates",
}
register(Profile(
    name="quick", description="the models that reach digits on a CPU in minutes, 2 seeds (paired), 2 runs at a "
                              "time, then the speed phase",
    seeds=(0, 1), model_steps={"vanilla": 5_000, "dcgan": 1_500, "lsgan": 2_000, "cgan": 5_000}, epochs=1.0,
    length_reasons=QUICK_REASONS,
    num_samples=2_000, curve_samples=500, curve_points=4, grid_points=6, log_points=20,
    models=("vanilla", "dcgan", "cgan"),
    left_out={"lsgan": QUICK_LSGAN, "wgan": QUICK_LEFT_OUT.format(model="wgan"),
              "wgan-gp": QUICK_LEFT_OUT.format(model="wgan-gp"), "cdcgan": QUICK_CDCGAN},
    jobs=2, threads=1, budget_note="about 28 minutes on 2 idle CPU cores (21 measured before cgan, ≈ 7 more for it)",
    speed_models=("vanilla", "dcgan"), speed_windows=3, speed_iterations=10))
register(Profile(
    name="cpu-complete", description="every preset to digits in PyTorch and Keras-TF on a CPU, 2 paired seeds, "
                                     "10,000 samples (hours: run it in the background, continue with --resume)",
    seeds=(0, 1), model_steps={"vanilla": 10_000, "dcgan": 2_000, "lsgan": 2_500, "wgan-gp": 2_000, "wgan": 4_000},
    length_reasons=CPU_COMPLETE_REASONS,
    num_samples=10_000, curve_samples=2_000, curve_points=8, grid_points=10, log_points=50,
    models=("vanilla", "dcgan", "lsgan", "wgan-gp", "wgan"), jobs=2, threads=1,
    budget_note="about 6 hours on 2 CPU cores", speed_models=("vanilla", "dcgan"), speed_windows=3,
    speed_iterations=10))
register(Profile(
    name="toy", description="the one-minute 1-D Gaussian GAN: PyTorch, Keras-TF and Keras-JAX, 10 paired seeds, "
                            "distances over training and an animated GIF per framework",
    seeds=tuple(range(10)), num_samples=2_000, curve_samples=2_000, curve_points=20, grid_points=20, log_points=20,
    models=("toy-1k",), jobs=2, threads=1, runner="toy", frameworks=("pytorch", "keras-tensorflow", "keras-jax"),
    budget_note="about 80 seconds on 2 idle CPU cores"))
register(Profile(
    name="full", description="the spec's training length, 3 seeds, 10,000 samples, Inception metrics",
    seeds=(0, 1, 2), epochs=None, num_samples=10_000, curve_samples=2_000, curve_points=20, grid_points=20,
    log_points=200, inception=True, budget_note="a GPU: hours on a CPU",
    speed_models=("vanilla", "dcgan", "lsgan", "wgan", "wgan-gp"), speed_windows=7, speed_iterations=50,
    speed_batch_sizes=(64, 256, 1024)))


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(f"unknown profile {name!r}; valid: {', '.join(PROFILES)}") from None


def every(total: int, points: int) -> int:
    """The interval that gives about ``points`` events over ``total`` iterations (the last one always counts)."""
    return max(1, total // max(points, 1))
